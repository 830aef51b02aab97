//go:build unix

package trigger

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// TestLambdaRIE invokes a real aws-lambda-go handler (testdata/rie) under
// the Lambda runtime interface emulator: the handler decodes every event
// strictly, and its answers (partial batch responses, errors returned as
// HTTP 200) are classified as Lambda would. It needs the emulator binary:
// NIMBUS_RIE=/path/to/aws-lambda-rie, or aws-lambda-rie on PATH
// (AWS-WIRE.md §7 has the go install line).
func TestLambdaRIE(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the emulator")
	}
	rie := os.Getenv("NIMBUS_RIE")
	if rie == "" {
		var err error
		if rie, err = exec.LookPath("aws-lambda-rie"); err != nil {
			t.Skip("no Lambda runtime interface emulator (set NIMBUS_RIE)")
		}
	}
	handler := filepath.Join(t.TempDir(), "handler")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", handler, "./testdata/rie").CombinedOutput(); err != nil {
		t.Fatalf("build handler: %v\n%s", err, out)
	}
	emu, api := freeAddr(t), freeAddr(t)
	var log bytes.Buffer
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", emu, "--runtime-api-address", api, handler)
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the emulator starts the handler: stop both
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("emulator log:\n%s", log.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", emu)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("emulator not listening: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polls for the emulator's listener
	}
	url := "http://" + emu + "/2015-03-31/functions/function/invocations"

	withBodies := func(b Batch, bodies ...string) Batch {
		b.Items = slices.Clone(b.Items[:len(bodies)])
		for i, s := range bodies {
			b.Items[i].Body = []byte(s)
		}
		return b
	}
	q, s, tp := queueBatch(), streamBatch(), topicBatch()
	for _, tc := range []struct {
		name    string
		batch   Batch
		report  bool
		outcome Outcome
		failed  []string
		errType string
	}{
		{name: "sqs ok", batch: withBodies(q, "ok", "ok"), report: true, outcome: Success},
		{name: "sqs partial", batch: withBodies(q, "ok", "fail"), report: true, outcome: PartialFailure, failed: []string{"m2"}},
		{name: "sqs partial ignored", batch: withBodies(q, "ok", "fail"), outcome: Success},
		{name: "sqs handler error", batch: withBodies(q, "ok", "error"), report: true, outcome: Failure, failed: q.IDs(), errType: "errorString"},
		{name: "sqs unknown id", batch: withBodies(q, "bogus", "ok"), report: true, outcome: Failure, failed: q.IDs(), errType: ErrorTypeInvalidResponse},
		{name: "kinesis partial", batch: withBodies(s, "ok", "fail"), report: true, outcome: PartialFailure, failed: s.IDs()[1:]},
		{name: "kinesis ok", batch: s, report: true, outcome: Success},
		{name: "sns ok", batch: tp, outcome: Success},
		{name: "sns handler error", batch: withBodies(tp, "error"), outcome: Failure, failed: tp.IDs()[:1], errType: "errorString"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var inv Invoker
			r := inv.Invoke(t.Context(), Call{Endpoint: url, Format: FormatLambda, Timeout: 20 * time.Second,
				ReportBatchItemFailures: tc.report, Batch: tc.batch})
			if r.Outcome != tc.outcome || !slices.Equal(r.Failed, tc.failed) || r.ErrorType != tc.errType {
				t.Fatalf("got %v %v %q (%s), want %v %v %q", r.Outcome, r.Failed, r.ErrorType, r.ErrorMessage,
					tc.outcome, tc.failed, tc.errType)
			}
		})
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
