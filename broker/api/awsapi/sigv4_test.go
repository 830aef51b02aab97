package awsapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// sigv4TestNow is the verifier's clock in these tests.
var sigv4TestNow = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func sigv4TestHandler() *Handler {
	return New(Config{
		Credentials: func(id string) (string, bool) {
			if id == "AKID" {
				return "SECRET", true
			}
			return "", false
		},
		Now: func() time.Time { return sigv4TestNow },
	}, Clients{})
}

// sigv4Signed returns a request signed by the SDK's signer at signingTime.
func sigv4Signed(t *testing.T, method, target, body, akid, secret, service, region string, signingTime time.Time, headers map[string]string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret},
		r, hex.EncodeToString(sum[:]), service, region, signingTime); err != nil {
		t.Fatal(err)
	}
	return r
}

func sigv4Kind(err error) authKind {
	var ae *authError
	if !errors.As(err, &ae) {
		return -1
	}
	return ae.kind
}

func TestSigV4VerifiesSDKSignatures(t *testing.T) {
	h := sigv4TestHandler()
	body := `{"QueueName":"q1"}`
	hdr := map[string]string{"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.CreateQueue", "X-Amz-Meta-Spaces": "  a   b  "}
	for _, c := range []struct {
		name, method, target, service, region string
	}{
		{"sqs json", http.MethodPost, "http://127.0.0.1:9701/", "sqs", "us-east-1"},
		{"other region", http.MethodPost, "http://localhost:9701/", "sqs", "eu-west-3"},
		{"queue path", http.MethodPost, "http://127.0.0.1:9701/000000000000/q%201", "sqs", "us-east-1"},
		{"query string", http.MethodPost, "http://127.0.0.1:9701/?Action=ListQueues&Version=2012-11-05&b=a%20b&a=2&a=1", "sqs", "us-east-1"},
		{"empty service", http.MethodPost, "http://127.0.0.1:9701/", "", "us-east-1"},
		{"get", http.MethodGet, "http://127.0.0.1:9701/?Action=ListQueues", "sqs", "us-east-1"},
	} {
		r := sigv4Signed(t, c.method, c.target, body, "AKID", "SECRET", c.service, c.region, sigv4TestNow.Add(-time.Minute), hdr)
		if _, err := h.authenticate(r, []byte(body)); err != nil {
			t.Errorf("%s: %v (Authorization %s)", c.name, err, r.Header.Get("Authorization"))
		}
	}
}

func TestSigV4Refusals(t *testing.T) {
	h := sigv4TestHandler()
	body := "Action=ListQueues&Version=2012-11-05"
	sign := func(akid, secret string, at time.Time) *http.Request {
		return sigv4Signed(t, http.MethodPost, "http://127.0.0.1:9701/", body, akid, secret, "sqs", "us-east-1", at,
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	}
	good := func() *http.Request { return sign("AKID", "SECRET", sigv4TestNow) }
	for _, c := range []struct {
		name string
		r    *http.Request
		body string
		want authKind
	}{
		{"no header", httptest.NewRequest(http.MethodPost, "/", nil), body, authMissing},
		{"unknown key", sign("OTHER", "SECRET", sigv4TestNow), body, authUnknownKey},
		{"wrong secret", sign("AKID", "WRONG", sigv4TestNow), body, authBadSignature},
		{"stale", sign("AKID", "SECRET", sigv4TestNow.Add(-6*time.Minute)), body, authExpired},
		{"future", sign("AKID", "SECRET", sigv4TestNow.Add(6*time.Minute)), body, authExpired},
		{"body changed", good(), body + "&x=1", authBadSignature},
		{"signed header changed", func() *http.Request {
			r := good()
			r.Header.Set("Content-Type", "text/plain")
			return r
		}(), body, authBadSignature},
		{"date changed", func() *http.Request {
			r := good()
			r.Header.Set("X-Amz-Date", sigv4TestNow.Add(time.Second).Format(sigv4TimeFormat))
			return r
		}(), body, authBadSignature},
		{"scope date differs", func() *http.Request {
			r := good()
			r.Header.Set("X-Amz-Date", sigv4TestNow.Add(-24*time.Hour).Format(sigv4TimeFormat))
			return r
		}(), body, authBadSignature},
		{"payload hash lies", func() *http.Request {
			r := good()
			r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
			return r
		}(), body, authBadSignature},
		{"malformed header", func() *http.Request {
			r := good()
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID")
			return r
		}(), body, authIncomplete},
		{"host not signed", func() *http.Request {
			r := good()
			a, _ := parseSigV4(r.Header.Get("Authorization"))
			a.SignedHeaders = []string{"x-amz-date"}
			r.Header.Set("Authorization", a.String())
			return r
		}(), body, authIncomplete},
		{"bad date", func() *http.Request {
			r := good()
			r.Header.Set("X-Amz-Date", "yesterday")
			return r
		}(), body, authIncomplete},
	} {
		_, err := h.authenticate(c.r, []byte(c.body))
		if got := sigv4Kind(err); got != c.want {
			t.Errorf("%s: %v (kind %d), want kind %d", c.name, err, got, c.want)
		}
	}
	// No credentials configured: anything goes.
	open := New(Config{}, Clients{})
	if _, err := open.authenticate(httptest.NewRequest(http.MethodPost, "/", nil), nil); err != nil {
		t.Errorf("without credentials: %v", err)
	}
}

// TestSigV4ErrorFormats checks that each service gets its own error shape.
func TestSigV4ErrorFormats(t *testing.T) {
	h := sigv4TestHandler()
	for _, c := range []struct {
		svc                     service
		status                  int
		contentType, has, extra string
	}{
		{serviceSQSJSON, 403, "application/x-amz-json-1.0", `"__type":"com.amazon.coral.service#UnrecognizedClientException"`, "InvalidClientTokenId;Sender"},
		{serviceSQSQuery, 403, "text/xml", `<Code>InvalidClientTokenId</Code>`, ""},
		{serviceSNS, 403, "text/xml", `xmlns="http://sns.amazonaws.com/doc/2010-03-31/"`, ""},
		{serviceKinesis, 400, "application/x-amz-json-1.1", `"__type":"UnrecognizedClientException"`, ""},
	} {
		w := httptest.NewRecorder()
		h.writeAuthError(w, "r1", c.svc, &authError{kind: authUnknownKey, msg: "The security token included in the request is invalid."})
		if w.Code != c.status || w.Header().Get("Content-Type") != c.contentType || !strings.Contains(w.Body.String(), c.has) ||
			w.Header().Get("x-amzn-query-error") != c.extra {
			t.Errorf("service %d: %d %s %q %s", c.svc, w.Code, w.Header().Get("Content-Type"), w.Header().Get("x-amzn-query-error"), w.Body)
		}
	}
}

// FuzzSigV4Header checks the Authorization header parser: it never panics,
// fails only with authIncomplete, and what it accepts formats back to a
// header that parses to the same value.
func FuzzSigV4Header(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20240506/us-east-1/sqs/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=" + strings.Repeat("ab", 32))
	f.Add("AWS4-HMAC-SHA256 Credential=test/20240506/us-east-1//aws4_request,SignedHeaders=host,Signature=" + strings.Repeat("0", 64))
	f.Add("AWS4-HMAC-SHA256 Signature=x, Credential=a/b/c/d/e")
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20240506/us-east-1/sqs/aws4_request, Credential=x")
	f.Add("Bearer token")
	f.Add("")
	f.Fuzz(func(t *testing.T, header string) {
		a, err := parseSigV4(header)
		if err != nil {
			if sigv4Kind(err) != authIncomplete {
				t.Fatalf("parseSigV4(%q): %v is not authIncomplete", header, err)
			}
			return
		}
		if a.AccessKeyID == "" || len(a.Date) != 8 || len(a.SignedHeaders) == 0 || len(a.Signature) != 64 {
			t.Fatalf("parseSigV4(%q) accepted %+v", header, a)
		}
		b, err := parseSigV4(a.String())
		if err != nil {
			t.Fatalf("parseSigV4(%q) = %+v, whose String %q does not parse: %v", header, a, a.String(), err)
		}
		if b.String() != a.String() || b.scope() != a.scope() {
			t.Fatalf("round trip: %+v != %+v", b, a)
		}
	})
}
