package awsapi

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// SubscribeToShard answers with an AWS event stream
// (application/vnd.amazon.eventstream): an initial-response event, then
// one SubscribeToShardEvent per push of the gRPC subscription, each frame
// flushed at once. It works over HTTP/1.1 (a chunked body, which
// aws-sdk-go-v2 reads over http://) and over HTTP/2 (h2c, as the JS SDK
// speaks it).
//
// Errors before the first push (unknown consumer or shard, a second
// subscription of the same consumer and shard) are ordinary JSON error
// responses, as AWS sends them; an error after it ends the stream with an
// exception frame (":message-type" exception, ":exception-type" the
// Kinesis error type, payload {"message": ...}). The stream ends cleanly
// when the subscription's lifetime is over (the client resubscribes from
// the last ContinuationSequenceNumber) or after the last event of a
// closed shard (which carries ChildShards).

// kinesisEventStreamContentType is the content type of the response.
const kinesisEventStreamContentType = "application/vnd.amazon.eventstream"

func (c *kinesisCall) subscribeToShard(w http.ResponseWriter, r *kinesisSubscribeInput) {
	arn, _ := kinesisConsumerArn(r.ConsumerARN) // validated
	if r.DryRun != nil && *r.DryRun {
		_, err := c.h.c.Consumers.DescribeStreamConsumer(c.ctx, &nimbusv1.DescribeStreamConsumerRequest{ConsumerArn: arn})
		if err == nil {
			err = kinesisDryRun(r.DryRun)
		}
		writeKinesisError(w, c.fromRPC(err, ""))
		return
	}
	p := r.StartingPosition
	pos := &nimbusv1.StartingPosition{Type: nimbusv1.ShardIteratorType(kinesisIteratorTypes[p.Type]), SequenceNumber: p.SequenceNumber}
	if p.Timestamp != nil {
		pos.TimestampMs = p.Timestamp.ms()
	}
	// Cancelled when the client goes away (the request context) or when a
	// write fails, which ends the gRPC subscription.
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	sub, err := c.h.c.Consumers.SubscribeToShard(ctx, &nimbusv1.SubscribeToShardRequest{ConsumerArn: arn, ShardId: r.ShardId, StartingPosition: pos})
	if err != nil {
		writeKinesisError(w, c.fromRPC(err, ""))
		return
	}
	ev, err := sub.Recv()
	if err != nil && !errors.Is(err, io.EOF) {
		writeKinesisError(w, c.fromRPC(err, ""))
		return
	}
	w.Header().Set("Content-Type", kinesisEventStreamContentType)
	w.WriteHeader(http.StatusOK)
	fw := kinesisFrameWriter{w: w, rc: http.NewResponseController(w), enc: eventstream.NewEncoder()}
	if fw.event("initial-response", []byte("{}")) != nil {
		return
	}
	for ; err == nil; ev, err = sub.Recv() {
		if fw.subscribeEvent(c, ev) != nil {
			return // the client is gone
		}
	}
	if errors.Is(err, io.EOF) || ctx.Err() != nil {
		return
	}
	_ = fw.exception(c.fromRPC(err, ""))
}

// kinesisFrameWriter writes event-stream frames to a response, flushing
// after each.
type kinesisFrameWriter struct {
	w   io.Writer
	rc  *http.ResponseController
	enc *eventstream.Encoder
}

func (f *kinesisFrameWriter) write(msg eventstream.Message) error {
	if err := f.enc.Encode(f.w, msg); err != nil {
		return err
	}
	return f.rc.Flush()
}

// event writes an event frame of eventType with a JSON payload.
func (f *kinesisFrameWriter) event(eventType string, payload []byte) error {
	var msg eventstream.Message
	msg.Headers.Set(":message-type", eventstream.StringValue("event"))
	msg.Headers.Set(":event-type", eventstream.StringValue(eventType))
	msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	msg.Payload = payload
	return f.write(msg)
}

// subscribeEvent writes one SubscribeToShardEvent.
func (f *kinesisFrameWriter) subscribeEvent(c *kinesisCall, ev *nimbusv1.SubscribeToShardEvent) error {
	payload, err := kinesisMarshal(kinesisSubscribeEvent{Records: kinesisRecords(ev.GetRecords()),
		ContinuationSequenceNumber: ev.GetContinuationSequenceNumber(), MillisBehindLatest: ev.GetMillisBehindLatest(),
		ChildShards: kinesisChildShards(ev.GetChildShards())})
	if err != nil {
		_ = f.exception(kinesisInternal("encode SubscribeToShardEvent: %s", err))
		return err
	}
	return f.event("SubscribeToShardEvent", payload)
}

// exception writes an exception frame for err; the stream ends after it.
func (f *kinesisFrameWriter) exception(err *kinesisError) error {
	payload, _ := kinesisMarshal(kinesisErrorBody{Message: err.msg})
	var msg eventstream.Message
	msg.Headers.Set(":message-type", eventstream.StringValue("exception"))
	msg.Headers.Set(":exception-type", eventstream.StringValue(err.typ))
	msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	msg.Payload = payload
	return f.write(msg)
}
