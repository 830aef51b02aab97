package awsapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// AWS Signature Version 4 verification of the Authorization header.
//
// The canonical request is rebuilt from what the client says it signed
// (SignedHeaders), not from every header present, so headers added on the
// way (a proxy's, Go's Accept-Encoding) do not break verification, and
// the signature is recomputed with the secret of the credential's access
// key over the credential's own scope (date, region, service; the service
// may be empty, as some signers leave it for an IP host). Query-string
// (presigned) signatures are not accepted.

const sigv4Algorithm = "AWS4-HMAC-SHA256"

// sigv4TimeFormat is X-Amz-Date's ISO 8601 basic format.
const sigv4TimeFormat = "20060102T150405Z"

// authKind classifies an authentication failure; each service names it
// with its own error code (authCodes).
type authKind int

const (
	authMissing      authKind = iota // no Authorization header
	authIncomplete                   // malformed header or date
	authUnknownKey                   // access key id not configured
	authBadSignature                 // signature (or payload hash, scope date) mismatch
	authExpired                      // X-Amz-Date outside the allowed clock skew
)

// authError is a refused request's authentication failure.
type authError struct {
	kind authKind
	msg  string
}

func (e *authError) Error() string { return e.msg }

// sigv4Auth is a parsed SigV4 Authorization header.
type sigv4Auth struct {
	AccessKeyID string
	Date        string // YYYYMMDD of the credential scope
	Region      string
	Service     string // may be empty
	// SignedHeaders are the lower-case header names, in the header's order.
	SignedHeaders []string
	Signature     string // 64 lower-case hex digits
}

// scope is the credential scope: DATE/REGION/SERVICE/aws4_request.
func (a sigv4Auth) scope() string {
	return a.Date + "/" + a.Region + "/" + a.Service + "/aws4_request"
}

// String formats a as an Authorization header (parseSigV4 reads it back).
func (a sigv4Auth) String() string {
	return sigv4Algorithm + " Credential=" + a.AccessKeyID + "/" + a.scope() +
		", SignedHeaders=" + strings.Join(a.SignedHeaders, ";") + ", Signature=" + a.Signature
}

func sigv4Incomplete(format string, args ...any) *authError {
	return &authError{kind: authIncomplete, msg: foldOneLine(fmt.Sprintf(format, args...))}
}

// parseSigV4 parses an Authorization header "AWS4-HMAC-SHA256
// Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b,
// Signature=hex". Components may come in any order, with or without
// spaces after the commas. Errors are *authError authIncomplete.
func parseSigV4(header string) (sigv4Auth, error) {
	var a sigv4Auth
	rest, ok := strings.CutPrefix(header, sigv4Algorithm+" ")
	if !ok {
		return a, sigv4Incomplete("Authorization header requires the %s algorithm", sigv4Algorithm)
	}
	var cred, signed, sig string
	var seen [3]bool
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.TrimSpace(part)
		k, v, ok := strings.Cut(part, "=")
		var i int
		switch {
		case !ok:
			return a, sigv4Incomplete("Authorization header component %q is not KEY=VALUE", sigv4Truncate(part, 64))
		case k == "Credential":
			i, cred = 0, v
		case k == "SignedHeaders":
			i, signed = 1, v
		case k == "Signature":
			i, sig = 2, v
		default:
			return a, sigv4Incomplete("Authorization header has an unknown component %q", sigv4Truncate(k, 64))
		}
		if seen[i] {
			return a, sigv4Incomplete("Authorization header repeats %s", k)
		}
		seen[i] = true
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return a, sigv4Incomplete("Authorization header requires Credential, SignedHeaders and Signature")
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[0] == "" || parts[4] != "aws4_request" || !sigv4Digits(parts[1], 8) {
		return a, sigv4Incomplete("Credential %q is not ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request", sigv4Truncate(cred, 128))
	}
	a.AccessKeyID, a.Date, a.Region, a.Service = parts[0], parts[1], parts[2], parts[3]
	for h := range strings.SplitSeq(signed, ";") {
		if h == "" || h != strings.ToLower(h) || strings.ContainsAny(h, " \t:") {
			return a, sigv4Incomplete("SignedHeaders %q is not a list of lower-case header names", sigv4Truncate(signed, 128))
		}
		a.SignedHeaders = append(a.SignedHeaders, h)
	}
	if !sigv4LowerHex(sig, 64) {
		return a, sigv4Incomplete("Signature must be 64 lower-case hex digits")
	}
	a.Signature = sig
	return a, nil
}

func sigv4Digits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func sigv4LowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func sigv4Truncate(s string, n int) string {
	if len(s) > n {
		s = s[:n] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// authenticate verifies the request's SigV4 signature when credentials are
// configured (Config.Credentials non-nil); with none it accepts anything.
// It checks, in order: the header's form, the access key, the date
// (X-Amz-Date, else Date) against the scope's date and the clock skew,
// the payload hash (x-amz-content-sha256 must match the body when given),
// and the signature. It returns the access key id ("" with
// authentication off). Errors are *authError.
func (h *Handler) authenticate(r *http.Request, body []byte) (string, error) {
	if h.cfg.Credentials == nil {
		return "", nil
	}
	header := r.Header.Get("Authorization")
	if header == "" {
		return "", &authError{kind: authMissing, msg: "Request is missing Authentication Token (a SigV4 Authorization header; presigned URLs are not accepted)"}
	}
	a, err := parseSigV4(header)
	if err != nil {
		return "", err
	}
	if !sigv4Contains(a.SignedHeaders, "host") {
		return "", sigv4Incomplete("'Host' must be a 'SignedHeader' in the AWS Authorization")
	}
	secret, ok := h.cfg.Credentials(a.AccessKeyID)
	if !ok {
		return "", &authError{kind: authUnknownKey, msg: "The security token included in the request is invalid."}
	}
	amzDate, t, err := sigv4RequestTime(r)
	if err != nil {
		return "", err
	}
	if amzDate[:8] != a.Date {
		return "", &authError{kind: authBadSignature, msg: fmt.Sprintf(
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s'", a.Date, amzDate[:8])}
	}
	now := h.cfg.Now().UTC()
	skew := h.cfg.MaxClockSkew
	if t.Before(now.Add(-skew)) {
		return "", &authError{kind: authExpired, msg: fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %s.)",
			amzDate, now.Add(-skew).Format(sigv4TimeFormat), now.Format(sigv4TimeFormat), skew)}
	}
	if t.After(now.Add(skew)) {
		return "", &authError{kind: authExpired, msg: fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %s.)",
			amzDate, now.Add(skew).Format(sigv4TimeFormat), now.Format(sigv4TimeFormat), skew)}
	}
	sum := sha256.Sum256(body)
	payloadHash := hex.EncodeToString(sum[:])
	if claimed := r.Header.Get("X-Amz-Content-Sha256"); claimed != "" && claimed != payloadHash {
		return "", &authError{kind: authBadSignature, msg: "The provided x-amz-content-sha256 header does not match what was computed."}
	}
	want := sigv4Signature(secret, a, amzDate, sigv4CanonicalRequest(r, a.SignedHeaders, payloadHash))
	if !hmac.Equal([]byte(want), []byte(a.Signature)) {
		return "", &authError{kind: authBadSignature, msg: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."}
	}
	return a.AccessKeyID, nil
}

func sigv4Contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sigv4RequestTime returns the request's signing time: X-Amz-Date, or the Date
// header in ISO 8601 basic form.
func sigv4RequestTime(r *http.Request) (string, time.Time, error) {
	if v := r.Header.Get("X-Amz-Date"); v != "" {
		t, err := time.Parse(sigv4TimeFormat, v)
		if err != nil {
			return "", time.Time{}, sigv4Incomplete("X-Amz-Date %q is not YYYYMMDDTHHMMSSZ", sigv4Truncate(v, 32))
		}
		return v, t, nil
	}
	if v := r.Header.Get("Date"); v != "" {
		t, err := http.ParseTime(v)
		if err != nil {
			return "", time.Time{}, sigv4Incomplete("Date %q is not an HTTP date", sigv4Truncate(v, 64))
		}
		t = t.UTC()
		return t.Format(sigv4TimeFormat), t, nil
	}
	return "", time.Time{}, sigv4Incomplete("Authorization header requires an X-Amz-Date or Date header")
}

// sigv4CanonicalRequest is SigV4's canonical request of r over the headers
// signed (for services other than S3: the path escaped twice).
func sigv4CanonicalRequest(r *http.Request, signed []string, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(sigv4Escape(path, false) + "\n")
	b.WriteString(sigv4CanonicalQuery(r.URL.RawQuery) + "\n")
	for _, name := range signed {
		b.WriteString(name + ":" + sigv4HeaderValue(r, name) + "\n")
	}
	b.WriteString("\n" + strings.Join(signed, ";") + "\n" + payloadHash)
	return b.String()
}

func sigv4HeaderValue(r *http.Request, name string) string {
	switch name {
	case "host":
		return sigv4StripSpaces(r.Host)
	case "content-length":
		if r.Header.Get("Content-Length") == "" && r.ContentLength >= 0 {
			return strconv.FormatInt(r.ContentLength, 10)
		}
	}
	vs := r.Header.Values(name)
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = sigv4StripSpaces(v)
	}
	return strings.Join(out, ",")
}

// sigv4StripSpaces trims spaces and folds runs of them into one.
func sigv4StripSpaces(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }), " ")
}

// sigv4CanonicalQuery sorts the query's parameters by name and value, each
// escaped with SigV4's rules.
func sigv4CanonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	var pairs []string
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		pairs = append(pairs, sigv4Escape(k, true)+"="+sigv4Escape(v, true))
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

// sigv4Escape percent-encodes every byte but the unreserved characters
// (A-Z a-z 0-9 - _ . ~) and, unless encodeSlash, '/'.
func sigv4Escape(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' && !encodeSlash {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// sigv4Signature signs canonical with secret over a's scope.
func sigv4Signature(secret string, a sigv4Auth, amzDate, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	stringToSign := sigv4Algorithm + "\n" + amzDate + "\n" + a.scope() + "\n" + hex.EncodeToString(sum[:])
	key := sigv4HMAC([]byte("AWS4"+secret), a.Date)
	key = sigv4HMAC(key, a.Region)
	key = sigv4HMAC(key, a.Service)
	key = sigv4HMAC(key, "aws4_request")
	return hex.EncodeToString(sigv4HMAC(key, stringToSign))
}

func sigv4HMAC(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// authCode is how one service names an authentication failure.
type authCode struct {
	query  string // query protocol code (SQS, SNS, and SQS JSON's x-amzn-query-error)
	json   string // JSON protocols' __type
	status int    // HTTP status for SQS and SNS; Kinesis answers 400
}

// authCodes are AWS's names for each failure. AWS reports an expired
// signature as SignatureDoesNotMatch / InvalidSignatureException with a
// "Signature expired" message, which the SDKs' clock skew correction
// recognises.
var authCodes = map[authKind]authCode{
	authMissing:      {"MissingAuthenticationToken", "MissingAuthenticationTokenException", http.StatusForbidden},
	authIncomplete:   {"IncompleteSignature", "IncompleteSignatureException", http.StatusBadRequest},
	authUnknownKey:   {"InvalidClientTokenId", "UnrecognizedClientException", http.StatusForbidden},
	authBadSignature: {"SignatureDoesNotMatch", "InvalidSignatureException", http.StatusForbidden},
	authExpired:      {"SignatureDoesNotMatch", "InvalidSignatureException", http.StatusForbidden},
}

// snsNamespaceForAuth is the XML namespace of SNS error responses.
const snsNamespaceForAuth = "http://sns.amazonaws.com/doc/2010-03-31/"

// writeAuthError writes an authentication failure in svc's error format:
// SQS JSON as AWS JSON 1.0 with x-amzn-query-error, SQS query and SNS as
// an XML ErrorResponse, Kinesis (and an unknown target) as AWS JSON 1.1.
func (h *Handler) writeAuthError(w http.ResponseWriter, requestID string, svc service, err error) {
	var ae *authError
	if !errors.As(err, &ae) {
		ae = &authError{kind: authBadSignature, msg: err.Error()}
	}
	c := authCodes[ae.kind]
	switch svc {
	case serviceSQSJSON:
		writeSQSJSONError(w, &sqsError{Code: c.query, Type: "com.amazon.coral.service#" + c.json, Status: c.status, Sender: true, Msg: ae.msg}, requestID)
	case serviceSQSQuery:
		writeXMLErrorResponse(w, sqsNamespace, c.status, true, c.query, ae.msg, requestID)
	case serviceSNS:
		writeXMLErrorResponse(w, snsNamespaceForAuth, c.status, true, c.query, ae.msg, requestID)
	default:
		body, _ := json.Marshal(struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}{c.json, ae.msg})
		hd := w.Header()
		hd.Set("Content-Type", "application/x-amz-json-1.1")
		hd.Set("x-amzn-RequestId", requestID)
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(body)
	}
}
