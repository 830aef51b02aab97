package test

// Dead-letter redrive, end to end through gRPC with the client SDK:
// ListDeadLetterSourceQueues and message move tasks (StartMessageMoveTask,
// ListMessageMoveTasks, CancelMessageMoveTask) on a real in-process node,
// and a move task that survives leader changes in a three-node cluster.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nimbusmq/nimbus/client"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// redrivePolicyTo is a RedrivePolicy that dead-letters a message on the
// receive after its first.
func redrivePolicyTo(dlq string) string {
	return `{"deadLetterTargetArn":"` + arnOf(dlq) + `","maxReceiveCount":1}`
}

// redriveQueues creates dlq and each source queue, redriving to dlq.
func (e *e2e) redriveQueues(dlq string, sources ...string) {
	e.t.Helper()
	e.createQueue(dlq, nil)
	for _, s := range sources {
		e.createQueue(s, map[string]string{"RedrivePolicy": redrivePolicyTo(dlq)})
	}
}

// deadLetter sends n messages to src (bodies "src-i", with attributes) and
// receives them until every one has moved to dlq, which then holds want
// visible messages. It returns the bodies.
func deadLetter(ctx context.Context, t *testing.T, c *client.Client, src, dlq string, n, want int) []string {
	t.Helper()
	var bodies []string
	for i := 0; i < n; i += 10 {
		var batch []client.SendEntry
		for j := i; j < min(i+10, n); j++ {
			b := fmt.Sprintf("%s-%d", src, j)
			bodies = append(bodies, b)
			batch = append(batch, client.SendEntry{Body: b, Attributes: map[string]client.AttributeValue{
				"src": client.StringAttribute(src), "n": client.NumberAttribute(strconv.Itoa(j))}})
		}
		res, err := c.SendBatch(ctx, src, batch)
		if err != nil || len(res.Failed) > 0 {
			t.Fatalf("send to %s: %v %v", src, err, res.Failed)
		}
	}
	// Visibility 0: the first receive leaves a message visible, the second
	// moves it to the DLQ (maxReceiveCount 1).
	deadline := time.Now().Add(30 * time.Second)
	for {
		msgs, err := c.Receive(ctx, src, client.ReceiveOptions{Max: 10, Wait: dur(0), Visibility: dur(0)})
		if err != nil {
			t.Fatalf("receive from %s: %v", src, err)
		}
		if len(msgs) == 0 {
			a, err := c.GetQueueAttributes(ctx, dlq, "ApproximateNumberOfMessages")
			if err != nil {
				t.Fatal(err)
			}
			if a["ApproximateNumberOfMessages"] == strconv.Itoa(want) {
				return bodies
			}
			time.Sleep(20 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: messages did not reach %s within 30s", src, dlq)
		}
	}
}

// drain receives every visible message of q (hiding them for a minute)
// and returns them.
func drain(ctx context.Context, t *testing.T, c *client.Client, q string) []client.Message {
	t.Helper()
	var out []client.Message
	for {
		msgs, err := c.Receive(ctx, q, client.ReceiveOptions{Max: 10, Wait: dur(0), Visibility: dur(time.Minute),
			AttributeNames: []string{"All"}, MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatalf("receive from %s: %v", q, err)
		}
		if len(msgs) == 0 {
			return out
		}
		out = append(out, msgs...)
	}
}

// bodiesOf returns the sorted bodies of msgs.
func bodiesOf(msgs []client.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Body
	}
	slices.Sort(out)
	return out
}

// sorted returns a sorted copy.
func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// taskSample is one observation of a move task.
type taskSample struct {
	at   time.Time
	task client.MoveTask
}

// waitTask polls the newest move task of source until it has ended and
// returns every observation, the last one the ended task.
func waitTask(ctx context.Context, t *testing.T, c *client.Client, source string, within time.Duration) []taskSample {
	t.Helper()
	var out []taskSample
	deadline := time.Now().Add(within)
	for {
		ts, err := c.ListMessageMoveTasks(ctx, source, 1)
		if err != nil {
			t.Fatalf("list move tasks of %s: %v", source, err)
		}
		if len(ts) != 1 {
			t.Fatalf("list move tasks of %s: %d tasks, want 1", source, len(ts))
		}
		out = append(out, taskSample{at: time.Now(), task: ts[0]})
		if st := ts[0].Status; st != client.MoveTaskRunning && st != client.MoveTaskCancelling {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("move task of %s still %s after %v: %+v", source, ts[0].Status, within, ts[0])
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func TestRedriveBackToSourceQueues(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.redriveQueues("rb-dlq", "rb-a", "rb-b")
	e.createQueue("rb-other", nil)
	a := deadLetter(e.ctx, t, e.c, "rb-a", "rb-dlq", 30, 30)
	b := deadLetter(e.ctx, t, e.c, "rb-b", "rb-dlq", 20, 50)

	srcs, err := e.c.ListDeadLetterSourceQueues(e.ctx, "rb-dlq")
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{client.QueueName(srcs[0]), client.QueueName(srcs[1])}; len(srcs) != 2 || got[0] != "rb-a" || got[1] != "rb-b" {
		t.Fatalf("dead-letter sources of rb-dlq = %v, want rb-a and rb-b", srcs)
	}
	if srcs, err := e.c.ListDeadLetterSourceQueues(e.ctx, "rb-other"); err != nil || len(srcs) != 0 {
		t.Fatalf("dead-letter sources of a queue nobody redrives to = %v, %v", srcs, err)
	}

	// Names, URLs and ARNs are all accepted where the API wants an ARN.
	h, err := e.c.StartMessageMoveTask(e.ctx, arnOf("rb-dlq"), client.MoveTaskOptions{})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if h == "" {
		t.Fatal("start returned an empty task handle")
	}
	samples := waitTask(e.ctx, t, e.c, "rb-dlq", 20*time.Second)
	end := samples[len(samples)-1].task
	if end.Status != client.MoveTaskCompleted || end.MessagesMoved != 50 || end.MessagesToMove != 50 || end.TaskHandle != "" ||
		end.SourceArn != arnOf("rb-dlq") || end.DestinationArn != "" || end.Rate != 0 || end.FailureReason != "" {
		t.Errorf("ended task %+v, want COMPLETED with 50 of 50 moved, no handle, no destination", end)
	}
	if first := samples[0].task; first.Status == client.MoveTaskRunning && first.TaskHandle != h {
		t.Errorf("running task handle %q, want %q", first.TaskHandle, h)
	}
	e.wantCounts("rb-dlq", 0, 0, 0)
	for src, want := range map[string][]string{"rb-a": a, "rb-b": b} {
		msgs := drain(e.ctx, t, e.c, src)
		if got := bodiesOf(msgs); !slices.Equal(got, sorted(want)) {
			t.Errorf("%s holds %d messages %v, want its own %d back", src, len(got), got, len(want))
		}
		for _, m := range msgs {
			if m.MessageAttributes["src"].StringValue != src || m.MessageAttributes["n"].DataType != "Number" {
				t.Errorf("%s: message %s lost its attributes: %v", src, m.Body, m.MessageAttributes)
			}
			if _, ok := m.Attributes["DeadLetterQueueSourceArn"]; ok || m.ReceiveCount() != 1 {
				t.Errorf("%s: moved message %s has attributes %v, want a fresh message", src, m.Body, m.Attributes)
			}
		}
	}
}

func TestRedriveToDestination(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.redriveQueues("rd-dlq", "rd-src")
	e.createQueue("rd-dest", nil)
	bodies := deadLetter(e.ctx, t, e.c, "rd-src", "rd-dlq", 25, 25)
	if _, err := e.c.StartMessageMoveTask(e.ctx, "rd-dlq", client.MoveTaskOptions{Destination: "rd-dest", Rate: 500}); err != nil {
		t.Fatal(err)
	}
	end := waitTask(e.ctx, t, e.c, "rd-dlq", 20*time.Second)
	if got := end[len(end)-1].task; got.Status != client.MoveTaskCompleted || got.MessagesMoved != 25 || got.DestinationArn != arnOf("rd-dest") || got.Rate != 500 {
		t.Errorf("ended task %+v, want COMPLETED, 25 moved to rd-dest at 500/s", got)
	}
	e.wantCounts("rd-dlq", 0, 0, 0)
	e.wantCounts("rd-src", 0, 0, 0)
	if got := bodiesOf(drain(e.ctx, t, e.c, "rd-dest")); !slices.Equal(got, sorted(bodies)) {
		t.Errorf("rd-dest holds %v, want %v", got, sorted(bodies))
	}
}

// TestRedriveRateAndProgress moves 200 messages at 50/s: the task must take
// 4 s within 10%, report its progress while it runs, never run ahead of
// the rate, and refuse a second task on the same queue meanwhile.
func TestRedriveRateAndProgress(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.redriveQueues("rr-dlq", "rr-src")
	e.createQueue("rr-dest", nil)
	const n, rate = 200, 50
	deadLetter(e.ctx, t, e.c, "rr-src", "rr-dlq", n, n)
	h, err := e.c.StartMessageMoveTask(e.ctx, "rr-dlq", client.MoveTaskOptions{Destination: "rr-dest", Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	// One task per source: a second start fails and changes nothing.
	_, err = e.c.StartMessageMoveTask(e.ctx, "rr-dlq", client.MoveTaskOptions{})
	wantErr(t, err, client.ErrUnsupportedOperation, "")
	wantGRPC(t, err, codes.FailedPrecondition)

	samples := waitTask(e.ctx, t, e.c, "rr-dlq", 20*time.Second)
	end := samples[len(samples)-1]
	if end.task.Status != client.MoveTaskCompleted || end.task.MessagesMoved != n || end.task.MessagesToMove != n {
		t.Fatalf("ended task %+v, want COMPLETED with %d of %d moved", end.task, n, n)
	}
	started := end.task.Started
	elapsed := end.at.Sub(started)
	want := time.Duration(n) * time.Second / rate
	t.Logf("moved %d messages at %d/s in %v (want %v): %.1f msgs/s, %+.1f%%", n, rate, elapsed, want,
		float64(n)/elapsed.Seconds(), 100*(elapsed.Seconds()/want.Seconds()-1))
	if elapsed < want*9/10 || elapsed > want*11/10 {
		t.Errorf("the task took %v, want %v within 10%%", elapsed, want)
	}
	progress := false
	for _, s := range samples {
		task := s.task
		if task.Status == client.MoveTaskRunning {
			if task.TaskHandle != h {
				t.Errorf("running task handle %q, want %q", task.TaskHandle, h)
			}
			if task.MessagesMoved > 0 && task.MessagesMoved < n {
				progress = true
			}
			// Never ahead of the rate (one batch of slack).
			if limit := int64(s.at.Sub(started).Seconds()*rate) + 10; task.MessagesMoved > limit {
				t.Errorf("%v after the start %d messages were moved, more than %d/s allows", s.at.Sub(started), task.MessagesMoved, rate)
			}
		}
	}
	if !progress {
		t.Errorf("no progress reported while the task ran (%d samples)", len(samples))
	}
	if got := len(drain(e.ctx, t, e.c, "rr-dest")); got != n {
		t.Errorf("rr-dest holds %d messages, want %d", got, n)
	}
	e.wantCounts("rr-dlq", 0, 0, 0)
}

func TestRedriveCancel(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.redriveQueues("rc-dlq", "rc-src")
	const n = 100
	bodies := deadLetter(e.ctx, t, e.c, "rc-src", "rc-dlq", n, n)
	h, err := e.c.StartMessageMoveTask(e.ctx, "rc-dlq", client.MoveTaskOptions{Rate: 20})
	if err != nil {
		t.Fatal(err)
	}
	for {
		ts, err := e.c.ListMessageMoveTasks(e.ctx, "rc-dlq", 10)
		if err != nil || len(ts) != 1 {
			t.Fatalf("list: %v %v", ts, err)
		}
		if ts[0].MessagesMoved >= 20 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	moved, err := e.c.CancelMessageMoveTask(e.ctx, h)
	if err != nil {
		t.Fatalf("cancel: %v", err)
	}
	ts, err := e.c.ListMessageMoveTasks(e.ctx, "rc-dlq", 10)
	if err != nil || len(ts) != 1 {
		t.Fatalf("list: %v %v", ts, err)
	}
	if got := ts[0]; got.Status != client.MoveTaskCancelled || got.MessagesMoved != moved || moved < 20 || moved >= n || got.TaskHandle != "" {
		t.Fatalf("after cancel (returned %d moved): task %+v, want CANCELLED with 20 <= moved < %d", moved, got, n)
	}
	// Cancelling again: the task is no longer running.
	_, err = e.c.CancelMessageMoveTask(e.ctx, h)
	wantErr(t, err, client.ErrUnsupportedOperation, "")
	// Nothing lost, nothing doubled: the moved messages are back in the
	// source, the others still in the DLQ.
	back, left := drain(e.ctx, t, e.c, "rc-src"), drain(e.ctx, t, e.c, "rc-dlq")
	if int64(len(back)) != moved || len(left) != n-int(moved) {
		t.Errorf("source holds %d, DLQ %d; want %d and %d", len(back), len(left), moved, n-int(moved))
	}
	if got := bodiesOf(append(back, left...)); !slices.Equal(got, sorted(bodies)) {
		t.Errorf("source and DLQ hold %d messages together, want the %d sent, each once", len(got), n)
	}
	// A new task may start once the old one ended.
	if _, err := e.c.StartMessageMoveTask(e.ctx, "rc-dlq", client.MoveTaskOptions{}); err != nil {
		t.Errorf("start after cancel: %v", err)
	}
}

// wantGRPC checks the gRPC status code an SDK error arrived with.
func wantGRPC(t *testing.T, err error, want codes.Code) {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) || ce.GRPCCode != want {
		t.Errorf("error %v: want gRPC code %v", err, want)
	}
}

func TestRedriveBadInput(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.redriveQueues("rx-dlq", "rx-src")
	e.createQueue("rx-plain", nil)
	e.createQueue("rx-dest.fifo", nil)
	deadLetter(e.ctx, t, e.c, "rx-src", "rx-dlq", 3, 3)
	// A finished task, for the cancel case.
	e.createQueue("rx-dlq2", nil)
	e.createQueue("rx-src2", map[string]string{"RedrivePolicy": redrivePolicyTo("rx-dlq2")})
	done, err := e.c.StartMessageMoveTask(e.ctx, "rx-dlq2", client.MoveTaskOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitTask(e.ctx, t, e.c, "rx-dlq2", 10*time.Second)

	snap := e.snapshot("rx-dlq", "rx-src", "rx-plain", "rx-dest.fifo")
	raw := e.raw()
	for _, tc := range []struct {
		desc     string
		call     func() error
		sentinel *client.Error
		grpc     codes.Code
		field    string
	}{
		{"unknown source", func() error {
			_, err := e.c.StartMessageMoveTask(e.ctx, arnOf("rx-nope"), client.MoveTaskOptions{})
			return err
		}, client.ErrQueueNotFound, codes.NotFound, ""},
		{"source is no ARN", func() error {
			_, err := e.c.StartMessageMoveTask(e.ctx, "arn:aws:sqs:rx-dlq", client.MoveTaskOptions{})
			return err
		}, client.ErrInvalidArgument, codes.InvalidArgument, "SourceArn"},
		{"empty source", func() error {
			_, err := raw.StartMessageMoveTask(e.ctx, &nimbusv1.StartMessageMoveTaskRequest{})
			return rpcErr(err)
		}, client.ErrInvalidArgument, codes.InvalidArgument, "SourceArn"},
		{"source is not a DLQ", func() error {
			_, err := e.c.StartMessageMoveTask(e.ctx, "rx-plain", client.MoveTaskOptions{})
			return err
		}, client.ErrInvalidArgument, codes.InvalidArgument, "SourceArn"},
		{"unknown destination", func() error {
			_, err := e.c.StartMessageMoveTask(e.ctx, "rx-dlq", client.MoveTaskOptions{Destination: arnOf("rx-nope")})
			return err
		}, client.ErrQueueNotFound, codes.NotFound, ""},
		{"destination is the source", func() error {
			_, err := e.c.StartMessageMoveTask(e.ctx, "rx-dlq", client.MoveTaskOptions{Destination: "rx-dlq"})
			return err
		}, client.ErrInvalidArgument, codes.InvalidArgument, "DestinationArn"},
		{"FIFO destination of a standard DLQ", func() error {
			_, err := e.c.StartMessageMoveTask(e.ctx, "rx-dlq", client.MoveTaskOptions{Destination: "rx-dest.fifo"})
			return err
		}, client.ErrInvalidArgument, codes.InvalidArgument, "DestinationArn"},
		{"negative rate", func() error {
			_, err := e.c.StartMessageMoveTask(e.ctx, "rx-dlq", client.MoveTaskOptions{Rate: -1})
			return err
		}, client.ErrInvalidArgument, codes.InvalidArgument, "MaxNumberOfMessagesPerSecond"},
		{"rate 501", func() error {
			_, err := e.c.StartMessageMoveTask(e.ctx, "rx-dlq", client.MoveTaskOptions{Rate: 501})
			return err
		}, client.ErrInvalidArgument, codes.InvalidArgument, "MaxNumberOfMessagesPerSecond"},
		{"list tasks of an unknown queue", func() error {
			_, err := e.c.ListMessageMoveTasks(e.ctx, "rx-nope", 1)
			return err
		}, client.ErrQueueNotFound, codes.NotFound, ""},
		{"list 11 tasks", func() error {
			_, err := e.c.ListMessageMoveTasks(e.ctx, "rx-dlq", 11)
			return err
		}, client.ErrInvalidArgument, codes.InvalidArgument, "MaxResults"},
		{"list -1 tasks", func() error {
			_, err := e.c.ListMessageMoveTasks(e.ctx, "rx-dlq", -1)
			return err
		}, client.ErrInvalidArgument, codes.InvalidArgument, "MaxResults"},
		{"malformed task handle", func() error {
			_, err := e.c.CancelMessageMoveTask(e.ctx, "not a handle!")
			return err
		}, client.ErrInvalidArgument, codes.InvalidArgument, "TaskHandle"},
		{"empty task handle", func() error {
			_, err := e.c.CancelMessageMoveTask(e.ctx, "")
			return err
		}, client.ErrInvalidArgument, codes.InvalidArgument, "TaskHandle"},
		{"unknown task", func() error {
			_, err := e.c.CancelMessageMoveTask(e.ctx, fakeHandle("rx-dlq", 999))
			return err
		}, client.ErrResourceNotFound, codes.NotFound, ""},
		{"finished task", func() error {
			_, err := e.c.CancelMessageMoveTask(e.ctx, done)
			return err
		}, client.ErrUnsupportedOperation, codes.FailedPrecondition, ""},
		{"sources of an unknown queue", func() error {
			_, err := e.c.ListDeadLetterSourceQueues(e.ctx, "rx-nope")
			return err
		}, client.ErrQueueNotFound, codes.NotFound, ""},
		{"sources page of 1001", func() error {
			_, err := raw.ListDeadLetterSourceQueues(e.ctx, &nimbusv1.ListDeadLetterSourceQueuesRequest{QueueName: "rx-dlq", MaxResults: 1001})
			return rpcErr(err)
		}, client.ErrInvalidArgument, codes.InvalidArgument, "MaxResults"},
		{"sources bad token", func() error {
			_, err := raw.ListDeadLetterSourceQueues(e.ctx, &nimbusv1.ListDeadLetterSourceQueuesRequest{QueueName: "rx-dlq", MaxResults: 1, NextToken: "zz"})
			return rpcErr(err)
		}, client.ErrInvalidArgument, codes.InvalidArgument, "NextToken"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := tc.call()
			wantErr(t, err, tc.sentinel, tc.field)
			wantGRPC(t, err, tc.grpc)
			snap.check(t)
			if ts, err := e.c.ListMessageMoveTasks(e.ctx, "rx-dlq", 10); err != nil || len(ts) != 0 {
				t.Errorf("rx-dlq has move tasks %+v (%v), want none", ts, err)
			}
		})
	}
	// The task that finished is still COMPLETED.
	if ts, err := e.c.ListMessageMoveTasks(e.ctx, "rx-dlq2", 10); err != nil || len(ts) != 1 || ts[0].Status != client.MoveTaskCompleted {
		t.Errorf("rx-dlq2 tasks %+v (%v), want one COMPLETED", ts, err)
	}
}

// fakeHandle builds a well-formed handle (base64url of "queue:id") of a
// task that does not exist.
func fakeHandle(queue string, id int) string {
	return base64URL(queue + ":" + strconv.Itoa(id))
}

func TestRedriveListSourcesPages(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.redriveQueues("rp-dlq", "rp-c", "rp-a", "rp-b")
	e.createQueue("rp-unrelated", nil)
	raw := e.raw()
	var got []string
	token := ""
	for pages := 0; ; pages++ {
		resp, err := raw.ListDeadLetterSourceQueues(e.ctx, &nimbusv1.ListDeadLetterSourceQueuesRequest{QueueName: "rp-dlq", MaxResults: 2, NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetQueueUrls()) > 2 || pages > 3 {
			t.Fatalf("page of %d (page %d)", len(resp.GetQueueUrls()), pages)
		}
		for _, u := range resp.GetQueueUrls() {
			got = append(got, client.QueueName(u))
		}
		if token = resp.GetNextToken(); token == "" {
			break
		}
	}
	if want := []string{"rp-a", "rp-b", "rp-c"}; !slices.Equal(got, want) {
		t.Errorf("sources over pages of 2 = %v, want %v", got, want)
	}
	// 0 means everything, without a token.
	resp, err := raw.ListDeadLetterSourceQueues(e.ctx, &nimbusv1.ListDeadLetterSourceQueuesRequest{QueueName: "rp-dlq"})
	if err != nil || len(resp.GetQueueUrls()) != 3 || resp.GetNextToken() != "" {
		t.Errorf("all sources: %v %v", resp, err)
	}
}

// TestRedriveClusterLeaderChanges runs a move task in a three-node cluster
// while the source queue's partition changes leader (the task moves with
// it) and the meta leader is stopped: the task completes, every message
// arrives, none is lost.
func TestRedriveClusterLeaderChanges(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	t.Parallel()
	c := newInprocCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clients := c.clients(ctx)
	cl := clients[2]
	if _, err := cl.CreateQueue(ctx, "fo-dlq", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateQueue(ctx, "fo-src", map[string]string{"RedrivePolicy": redrivePolicyTo("fo-dlq")}, nil); err != nil {
		t.Fatal(err)
	}
	const n = 60
	bodies := deadLetter(ctx, t, cl, "fo-src", "fo-dlq", n, n)
	// The task runs on the DLQ partition's leader (n2), the catalogue is
	// on the meta leader (n1).
	if _, err := cl.TransferLeader(ctx, "", true, "n1"); err != nil {
		t.Fatalf("transfer meta: %v", err)
	}
	if _, err := cl.TransferLeader(ctx, "fo-dlq", false, "n2"); err != nil {
		t.Fatalf("transfer fo-dlq: %v", err)
	}
	if _, err := cl.StartMessageMoveTask(ctx, "fo-dlq", client.MoveTaskOptions{Rate: 20}); err != nil {
		t.Fatal(err)
	}
	waitMoved := func(atLeast int64) {
		t.Helper()
		for {
			ts, err := cl.ListMessageMoveTasks(ctx, "fo-dlq", 1)
			if err == nil && len(ts) == 1 && ts[0].MessagesMoved >= atLeast {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("waiting for %d moved: %v %v", atLeast, ts, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitMoved(10)
	if _, err := cl.TransferLeader(ctx, "fo-dlq", false, "n3"); err != nil {
		t.Fatalf("transfer fo-dlq: %v", err)
	}
	waitMoved(25)
	if err := c.nodes[0].Stop(); err != nil {
		t.Fatalf("stop n1: %v", err)
	}
	samples := waitTask(ctx, t, cl, "fo-dlq", time.Minute)
	end := samples[len(samples)-1].task
	if end.Status != client.MoveTaskCompleted || end.MessagesMoved < n || end.MessagesToMove != n {
		t.Errorf("ended task %+v, want COMPLETED with at least %d moved of %d", end, n, n)
	}
	// At least once: every message is back (a leader change may
	// duplicate one), the DLQ is empty.
	back := bodiesOf(drain(ctx, t, cl, "fo-src"))
	if got := slices.Compact(back); !slices.Equal(got, sorted(bodies)) {
		t.Errorf("fo-src holds %d distinct messages, want the %d sent", len(got), n)
	}
	if left := drain(ctx, t, cl, "fo-dlq"); len(left) != 0 {
		t.Errorf("fo-dlq still holds %d messages", len(left))
	}
	t.Logf("moved %d messages (%d copies arrived) across two leader changes", end.MessagesMoved, len(back))
}

// rpcErr converts an error of a generated stub into the *client.Error the
// SDK would have returned.
func rpcErr(err error) error {
	if err == nil {
		return nil
	}
	st, _ := status.FromError(err)
	reason, field := rawError(err)
	return &client.Error{Code: client.Code(reason), Message: st.Message(), Field: field, GRPCCode: st.Code()}
}

func base64URL(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// fifoDrain receives and deletes every message of a FIFO queue, in
// delivery order.
func fifoDrain(ctx context.Context, t *testing.T, c *client.Client, q string) []client.Message {
	t.Helper()
	var out []client.Message
	for {
		msgs, err := c.Receive(ctx, q, client.ReceiveOptions{Max: 10, Wait: dur(0), Visibility: dur(time.Minute),
			AttributeNames: []string{"All"}})
		if err != nil {
			t.Fatalf("receive from %s: %v", q, err)
		}
		if len(msgs) == 0 {
			return out
		}
		out = append(out, msgs...)
		var del []client.DeleteEntry
		for _, m := range msgs {
			del = append(del, client.DeleteEntry{ReceiptHandle: m.ReceiptHandle})
		}
		if res, err := c.DeleteBatch(ctx, q, del); err != nil || len(res.Failed) > 0 {
			t.Fatalf("delete from %s: %v %v", q, err, res.Failed)
		}
	}
}

// fifoDeadLetter receives from the FIFO queue src (visibility 0) until
// every message sits in dlq, which then holds want.
func fifoDeadLetter(ctx context.Context, t *testing.T, c *client.Client, src, dlq string, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		msgs, err := c.Receive(ctx, src, client.ReceiveOptions{Max: 10, Wait: dur(0), Visibility: dur(0)})
		if err != nil {
			t.Fatalf("receive from %s: %v", src, err)
		}
		if len(msgs) == 0 {
			a, err := c.GetQueueAttributes(ctx, dlq, "ApproximateNumberOfMessages")
			if err != nil {
				t.Fatal(err)
			}
			if a["ApproximateNumberOfMessages"] == strconv.Itoa(want) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			sa, _ := c.GetQueueAttributes(ctx, src, "All")
			da, _ := c.GetQueueAttributes(ctx, dlq, "All")
			t.Fatalf("%s: messages did not reach %s within 30s (source: %s/%s, DLQ: %s/%s visible/in flight)", src, dlq,
				sa["ApproximateNumberOfMessages"], sa["ApproximateNumberOfMessagesNotVisible"],
				da["ApproximateNumberOfMessages"], da["ApproximateNumberOfMessagesNotVisible"])
		}
	}
}

// checkGroupOrder checks that msgs hold exactly bodies "g<k>-<i>" for
// groups k < groups and i < per, each once, in order within each group.
func checkGroupOrder(t *testing.T, q string, msgs []client.Message, groups, per int) {
	t.Helper()
	next := map[string]int{}
	for _, m := range msgs {
		g := m.GroupID()
		if want := fmt.Sprintf("%s-%d", g, next[g]); m.Body != want {
			t.Errorf("%s: group %s delivered %q, want %q", q, g, m.Body, want)
			return
		}
		next[g]++
	}
	if len(msgs) != groups*per || len(next) != groups {
		t.Errorf("%s: %d messages in %d groups, want %d in %d", q, len(msgs), len(next), groups*per, groups)
	}
}

// TestRedriveFIFO redrives a FIFO dead-letter queue back to its source
// twice in a row (the same messages, dead-lettered again within the
// deduplication window) and then to a high-throughput FIFO queue with
// several partitions: every message arrives each time, in group order.
func TestRedriveFIFO(t *testing.T) {
	t.Parallel()
	e := startE2E(t)
	e.createQueue("rf-dlq.fifo", nil)
	e.createQueue("rf-src.fifo", map[string]string{"RedrivePolicy": redrivePolicyTo("rf-dlq.fifo")})
	e.createQueue("rf-dest.fifo", map[string]string{"DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId"})
	const groups, per = 3, 8
	for i := 0; i < per; i++ {
		for g := 0; g < groups; g++ {
			grp := fmt.Sprintf("g%d", g)
			e.send("rf-src.fifo", fmt.Sprintf("%s-%d", grp, i), client.WithGroup(grp), client.WithDeduplicationID(fmt.Sprintf("%s-%d", grp, i)))
		}
	}
	for round := 1; round <= 2; round++ {
		t.Logf("round %d: dead-letter", round)
		fifoDeadLetter(e.ctx, t, e.c, "rf-src.fifo", "rf-dlq.fifo", groups*per)
		if _, err := e.c.StartMessageMoveTask(e.ctx, "rf-dlq.fifo", client.MoveTaskOptions{}); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if end := waitTask(e.ctx, t, e.c, "rf-dlq.fifo", 20*time.Second); end[len(end)-1].task.Status != client.MoveTaskCompleted {
			t.Fatalf("round %d: task %+v", round, end[len(end)-1].task)
		}
		// Put them back for the next round (received once: redrive
		// after the next receive).
		msgs, err := e.c.Receive(e.ctx, "rf-src.fifo", client.ReceiveOptions{Max: 10, Wait: dur(0), Visibility: dur(0), AttributeNames: []string{"All"}})
		if err != nil || len(msgs) == 0 {
			t.Fatalf("round %d: the source is empty after the redrive: %v", round, err)
		}
		a := e.attrs("rf-src.fifo")
		if got := a["ApproximateNumberOfMessages"]; got != strconv.Itoa(groups*per) {
			t.Fatalf("round %d: rf-src.fifo holds %s messages, want %d", round, got, groups*per)
		}
	}
	fifoDeadLetter(e.ctx, t, e.c, "rf-src.fifo", "rf-dlq.fifo", groups*per)
	if _, err := e.c.StartMessageMoveTask(e.ctx, "rf-dlq.fifo", client.MoveTaskOptions{Destination: "rf-dest.fifo"}); err != nil {
		t.Fatal(err)
	}
	if end := waitTask(e.ctx, t, e.c, "rf-dlq.fifo", 20*time.Second); end[len(end)-1].task.Status != client.MoveTaskCompleted {
		t.Fatalf("task %+v", end[len(end)-1].task)
	}
	checkGroupOrder(t, "rf-dest.fifo", fifoDrain(e.ctx, t, e.c, "rf-dest.fifo"), groups, per)
	e.wantCounts("rf-dlq.fifo", 0, 0, 0)
}

// TestRedriveClusterKill9 kills -9 the node running a move task (the
// leader of the DLQ's partition) in a three-process cluster: the new
// leader resumes the task, waits for the messages the dead runner held in
// flight to become visible again, and moves them too. Nothing is lost.
// It takes about a minute (the 30 s visibility of the runner's receives),
// so it runs with NIMBUS_SOAK (make soak).
func TestRedriveClusterKill9(t *testing.T) {
	if !soak() {
		t.Skip("kill -9 during a move task: set NIMBUS_SOAK=1 (make soak)")
	}
	c := newProcCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl := c.clients(ctx)[0]
	if _, err := cl.CreateQueue(ctx, "fk-dlq", nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateQueue(ctx, "fk-src", map[string]string{"RedrivePolicy": redrivePolicyTo("fk-dlq")}, nil); err != nil {
		t.Fatal(err)
	}
	// Unthrottled, so that the runner is most likely between a receive
	// and a delete when it dies.
	const n = 1500
	bodies := deadLetter(ctx, t, cl, "fk-src", "fk-dlq", n, n)
	if _, err := cl.StartMessageMoveTask(ctx, "fk-dlq", client.MoveTaskOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		ts, err := cl.ListMessageMoveTasks(ctx, "fk-dlq", 1)
		if err == nil && len(ts) == 1 && ts[0].MessagesMoved >= 200 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no progress: %v %v", ts, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	victim := c.leaderOf(ctx, "fk-dlq")
	c.srv[victim].kill9()
	t.Logf("killed %s, the leader of fk-dlq", c.srv[victim].nodeID)
	killed := time.Now()
	if a, err := cl.GetQueueAttributes(ctx, "fk-dlq", "ApproximateNumberOfMessagesNotVisible"); err == nil {
		t.Logf("in flight in fk-dlq after the failover: %s", a["ApproximateNumberOfMessagesNotVisible"])
	}
	samples := waitTask(ctx, t, cl, "fk-dlq", 2*time.Minute)
	end := samples[len(samples)-1].task
	if end.Status != client.MoveTaskCompleted {
		t.Fatalf("ended task %+v, want COMPLETED", end)
	}
	back := bodiesOf(drain(ctx, t, cl, "fk-src"))
	if got := slices.Compact(slices.Clone(back)); !slices.Equal(got, sorted(bodies)) {
		t.Errorf("fk-src holds %d distinct messages, want the %d sent", len(got), n)
	}
	if left := drain(ctx, t, cl, "fk-dlq"); len(left) != 0 {
		t.Errorf("fk-dlq still holds %d messages", len(left))
	}
	t.Logf("moved %d messages (%d copies arrived, %d moved as counted) across a kill -9; the task ended %v after it",
		n, len(back), end.MessagesMoved, samples[len(samples)-1].at.Sub(killed).Round(time.Millisecond))
}
