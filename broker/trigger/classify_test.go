package trigger

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

var ids3 = []string{"m1", "m2", "m3"}

func TestClassify(t *testing.T) {
	json := http.Header{"Content-Type": {"application/json"}}
	text := http.Header{"Content-Type": {"text/plain"}}
	for _, tc := range []struct {
		name    string
		f       Format
		report  bool
		status  int
		header  http.Header
		body    string
		outcome Outcome
		failed  []string // nil: all on Failure/Throttled, none otherwise
		errType string
	}{
		// Lambda's "complete success" responses.
		{name: "empty body", report: true, body: "", outcome: Success},
		{name: "whitespace body", report: true, body: " \n", outcome: Success},
		{name: "null", report: true, body: "null", outcome: Success},
		{name: "empty object", report: true, body: "{}", outcome: Success},
		{name: "empty list", report: true, body: `{"batchItemFailures":[]}`, outcome: Success},
		{name: "null list", report: true, body: `{"batchItemFailures":null}`, outcome: Success},
		{name: "other keys", report: true, body: `{"statusCode":200,"body":"ok"}`, outcome: Success},
		{name: "202 empty", report: true, status: 202, outcome: Success},
		// Partial failures.
		{name: "one failed", report: true, body: `{"batchItemFailures":[{"itemIdentifier":"m2"}]}`, outcome: PartialFailure, failed: []string{"m2"}},
		{name: "batch order, deduplicated", report: true,
			body:    `{"batchItemFailures":[{"itemIdentifier":"m3"},{"itemIdentifier":"m1"},{"itemIdentifier":"m3"}]}`,
			outcome: PartialFailure, failed: []string{"m1", "m3"}},
		{name: "extra keys in entry", report: true, body: `{"batchItemFailures":[{"itemIdentifier":"m1","reason":"x"}]}`,
			outcome: PartialFailure, failed: []string{"m1"}},
		{name: "every item", report: true, body: `{"batchItemFailures":[{"itemIdentifier":"m1"},{"itemIdentifier":"m2"},{"itemIdentifier":"m3"}]}`,
			outcome: Failure, errType: ErrorTypeBatchItemFailures},
		// Lambda's "complete failure" responses.
		{name: "empty identifier", report: true, body: `{"batchItemFailures":[{"itemIdentifier":""}]}`, outcome: Failure, errType: ErrorTypeInvalidResponse},
		{name: "null identifier", report: true, body: `{"batchItemFailures":[{"itemIdentifier":null}]}`, outcome: Failure, errType: ErrorTypeInvalidResponse},
		{name: "wrong key name", report: true, body: `{"batchItemFailures":[{"itemId":"m1"}]}`, outcome: Failure, errType: ErrorTypeInvalidResponse},
		{name: "wrong key case", report: true, body: `{"batchItemFailures":[{"ItemIdentifier":"m1"}]}`, outcome: Failure, errType: ErrorTypeInvalidResponse},
		{name: "unknown id", report: true, body: `{"batchItemFailures":[{"itemIdentifier":"m1"},{"itemIdentifier":"zzz"}]}`, outcome: Failure, errType: ErrorTypeInvalidResponse},
		{name: "numeric id", report: true, body: `{"batchItemFailures":[{"itemIdentifier":1}]}`, outcome: Failure, errType: ErrorTypeInvalidResponse},
		{name: "null entry", report: true, body: `{"batchItemFailures":[null]}`, outcome: Failure, errType: ErrorTypeInvalidResponse},
		{name: "list not array", report: true, body: `{"batchItemFailures":{"itemIdentifier":"m1"}}`, outcome: Failure, errType: ErrorTypeInvalidResponse},
		{name: "invalid JSON", report: true, body: `{"batchItemFailures":[`, outcome: Failure, errType: ErrorTypeInvalidResponse},
		{name: "not JSON", report: true, body: `OK`, outcome: Failure, errType: ErrorTypeInvalidResponse},
		{name: "JSON array", report: true, body: `[{"itemIdentifier":"m1"}]`, outcome: Failure, errType: ErrorTypeInvalidResponse},
		{name: "JSON string", report: true, body: `"done"`, outcome: Failure, errType: ErrorTypeInvalidResponse},
		// Without ReportBatchItemFailures any 2xx succeeds...
		{name: "no report: list ignored", body: `{"batchItemFailures":[{"itemIdentifier":"m2"}]}`, outcome: Success},
		{name: "no report: junk ignored", body: `oops{`, outcome: Success},
		// ...except a function error.
		{name: "function error (RIE)", body: `{"errorMessage":"boom","errorType":"UnmarshalTypeError"}`, outcome: Failure, errType: "UnmarshalTypeError"},
		{name: "function error message only", report: true, body: `{"errorMessage":"boom"}`, outcome: Failure, errType: ErrorTypeUnhandled},
		{name: "function error header", header: http.Header{"X-Amz-Function-Error": {"Unhandled"}}, body: `{"errorMessage":"x","errorType":"Runtime.ExitError"}`,
			outcome: Failure, errType: "Runtime.ExitError"},
		{name: "function error header, no body", header: http.Header{"X-Amz-Function-Error": {"Handled"}}, outcome: Failure, errType: "Handled"},
		{name: "null errorType is no error", body: `{"errorType":null,"ok":1}`, outcome: Success},
		// Statuses.
		{name: "429", status: 429, header: http.Header{"Retry-After": {"3"}}, outcome: Throttled, errType: ErrorTypeThrottled},
		{name: "503", status: 503, outcome: Throttled, errType: ErrorTypeThrottled},
		{name: "500", status: 500, body: "kaput", outcome: Failure, errType: ErrorTypeHTTPStatus},
		{name: "502", status: 502, outcome: Failure, errType: ErrorTypeHTTPStatus},
		{name: "404", status: 404, outcome: Failure, errType: ErrorTypeHTTPStatus},
		{name: "302", status: 302, outcome: Failure, errType: ErrorTypeHTTPStatus},
		{name: "100", status: 100, outcome: Failure, errType: ErrorTypeHTTPStatus},
		// CloudEvents and raw endpoints: reports only from JSON-looking bodies.
		{name: "ce: OK text", f: FormatCloudEvents, report: true, header: text, body: "OK", outcome: Success},
		{name: "ce: report", f: FormatCloudEvents, report: true, body: `{"batchItemFailures":[{"itemIdentifier":"m1"}]}`, outcome: PartialFailure, failed: []string{"m1"}},
		{name: "raw: JSON type, bad body", f: FormatRaw, report: true, header: json, body: "OK", outcome: Failure, errType: ErrorTypeInvalidResponse},
		{name: "raw: reply event", f: FormatRaw, report: true, header: json, body: `{"specversion":"1.0"}`, outcome: Success},
		{name: "raw: function error", f: FormatRaw, body: `{"errorMessage":"x"}`, outcome: Failure, errType: ErrorTypeUnhandled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			if f == "" {
				f = FormatLambda
			}
			status := tc.status
			if status == 0 {
				status = 200
			}
			r := Classify(f, Response{Status: status, Header: tc.header, Body: []byte(tc.body)}, ids3, tc.report)
			if r.Outcome != tc.outcome {
				t.Fatalf("outcome %v, want %v (%s: %s)", r.Outcome, tc.outcome, r.ErrorType, r.ErrorMessage)
			}
			want := tc.failed
			if want == nil && (tc.outcome == Failure || tc.outcome == Throttled) {
				want = ids3
			}
			if !slices.Equal(r.Failed, want) {
				t.Errorf("failed %v, want %v", r.Failed, want)
			}
			if r.ErrorType != tc.errType {
				t.Errorf("error type %q, want %q (%s)", r.ErrorType, tc.errType, r.ErrorMessage)
			}
			if r.Status != status {
				t.Errorf("status %d", r.Status)
			}
			checkInvariants(t, r, ids3)
		})
	}
	r := Classify(FormatLambda, Response{Status: 429, Header: http.Header{"Retry-After": {"3"}}}, ids3, false)
	if r.RetryAfter != 3*time.Second {
		t.Errorf("RetryAfter %v", r.RetryAfter)
	}
	r = Classify(FormatLambda, Response{Status: 200, Body: []byte(`{"errorMessage":"boom","errorType":"E"}`)}, ids3, false)
	if r.ErrorMessage != "boom" {
		t.Errorf("ErrorMessage %q", r.ErrorMessage)
	}
	r = Classify(FormatLambda, Response{Status: 200, Body: []byte(`{"batchItemFailures":[]`), Truncated: true}, ids3, true)
	if r.Outcome != Failure {
		t.Errorf("truncated answer: %v", r.Outcome)
	}
}

// checkInvariants checks Result's documented invariants.
func checkInvariants(t *testing.T, r Result, ids []string) {
	t.Helper()
	inBatch := func(xs []string) bool {
		last := -1
		for _, x := range xs {
			i := slices.Index(ids, x)
			if i <= last { // unknown, duplicate or out of order
				return false
			}
			last = i
		}
		return true
	}
	if !inBatch(r.Failed) || !inBatch(r.Throttled) {
		t.Fatalf("Failed %v / Throttled %v not a batch-ordered subset of %v", r.Failed, r.Throttled, ids)
	}
	for _, x := range r.Throttled {
		if !slices.Contains(r.Failed, x) {
			t.Fatalf("throttled %s not in Failed %v", x, r.Failed)
		}
	}
	switch r.Outcome {
	case Success:
		if len(r.Failed) != 0 {
			t.Fatalf("Success with failed %v", r.Failed)
		}
	case PartialFailure:
		if len(r.Failed) == 0 || len(r.Failed) >= len(ids) {
			t.Fatalf("PartialFailure with failed %v of %v", r.Failed, ids)
		}
	case Failure:
		if !slices.Equal(r.Failed, ids) {
			t.Fatalf("Failure with failed %v of %v", r.Failed, ids)
		}
	case Throttled:
		if len(r.Failed) == 0 || !slices.Equal(r.Failed, r.Throttled) {
			t.Fatalf("Throttled with failed %v, throttled %v", r.Failed, r.Throttled)
		}
	default:
		t.Fatalf("unknown outcome %v", r.Outcome)
	}
}

func FuzzClassify(f *testing.F) {
	for _, s := range []string{
		"", "null", "{}", `{"batchItemFailures":[]}`, `{"batchItemFailures":[{"itemIdentifier":"a"}]}`,
		`{"batchItemFailures":[{"itemIdentifier":"a"},{"itemIdentifier":"b"}]}`, `{"batchItemFailures":[{"itemIdentifier":""}]}`,
		`{"batchItemFailures":[{"itemIdentifier":null}]}`, `{"errorMessage":"x","errorType":"y"}`, `[1]`, `{"batchItemFailures":`,
	} {
		f.Add(200, s, true, uint8(0))
	}
	f.Add(429, "", false, uint8(1))
	f.Add(500, "{}", true, uint8(2))
	f.Fuzz(func(t *testing.T, status int, body string, report bool, mode uint8) {
		ids := []string{"a", "b", "c"}[:1+int(mode%3)]
		format := []Format{FormatLambda, FormatCloudEvents, FormatRaw}[int(mode/3)%3]
		h := http.Header{}
		if mode&0x10 != 0 {
			h.Set("Content-Type", "application/json")
		}
		if mode&0x20 != 0 {
			h.Set("X-Amz-Function-Error", "Unhandled")
		}
		r := Classify(format, Response{Status: status, Header: h, Body: []byte(body)}, ids, report)
		checkInvariants(t, r, ids)
		ok2xx := status >= 200 && status <= 299
		if r.Outcome == Success && (!ok2xx || mode&0x20 != 0) {
			t.Fatalf("Success for status %d / function error header", status)
		}
		if (status == 429 || status == 503) != (r.Outcome == Throttled) {
			t.Fatalf("status %d gave %v", status, r.Outcome)
		}
		if !report && r.Outcome == PartialFailure {
			t.Fatalf("PartialFailure without ReportBatchItemFailures")
		}
	})
}
