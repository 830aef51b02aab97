// Command rie is a Lambda handler for TestLambdaRIE, run under the Lambda
// runtime interface emulator. It decodes each event strictly (an event
// that does not decode is a function error) and answers by message body
// or record data: "fail" is reported in batchItemFailures, "error" makes
// the handler fail, "bogus" reports an identifier that is not in the
// batch; anything else succeeds.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

type failures struct {
	BatchItemFailures []events.SQSBatchItemFailure `json:"batchItemFailures"`
}

func strict(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func handle(_ context.Context, raw json.RawMessage) (failures, error) {
	var probe struct {
		Records []struct {
			EventSource  string `json:"eventSource"`
			EventSource2 string `json:"EventSource"`
		} `json:"Records"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil || len(probe.Records) == 0 {
		return failures{}, fmt.Errorf("not an event: %v", err)
	}
	var out failures
	verdict := func(id, payload string) error {
		switch payload {
		case "fail":
			out.BatchItemFailures = append(out.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
		case "bogus":
			out.BatchItemFailures = append(out.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: "not-in-batch"})
		case "error":
			return errors.New("handler failed on " + id)
		}
		return nil
	}
	switch src := probe.Records[0].EventSource + probe.Records[0].EventSource2; src {
	case "aws:sqs":
		var ev events.SQSEvent
		if err := strict(raw, &ev); err != nil {
			return failures{}, err
		}
		for _, r := range ev.Records {
			if err := verdict(r.MessageId, r.Body); err != nil {
				return failures{}, err
			}
		}
	case "aws:kinesis":
		var ev events.KinesisEvent
		if err := strict(raw, &ev); err != nil {
			return failures{}, err
		}
		for _, r := range ev.Records {
			if err := verdict(r.Kinesis.SequenceNumber, string(r.Kinesis.Data)); err != nil {
				return failures{}, err
			}
		}
	case "aws:sns":
		var ev events.SNSEvent
		if err := strict(raw, &ev); err != nil {
			return failures{}, err
		}
		for _, r := range ev.Records {
			if err := verdict(r.SNS.MessageID, r.SNS.Message); err != nil {
				return failures{}, err
			}
		}
	default:
		return failures{}, fmt.Errorf("unknown event source %q", src)
	}
	return out, nil
}

func main() { lambda.Start(handle) }
