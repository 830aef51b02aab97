package awsapi

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/nimbusmq/nimbus/broker"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// MaxRequestBytes bounds a request body: a 10 MiB Kinesis PutRecords
// batch in base64 plus its JSON framing fits.
const MaxRequestBytes = 16 << 20

// Clients are the gRPC services the AWS actions translate to.
type Clients struct {
	Queues    nimbusv1.QueueServiceClient
	Topics    nimbusv1.TopicServiceClient
	Streams   nimbusv1.StreamServiceClient
	Settings  nimbusv1.StreamSettingsServiceClient
	Consumers nimbusv1.StreamConsumerServiceClient
}

// Config configures a Handler.
type Config struct {
	// Region and Account appear in ARNs and queue URLs; empty means
	// broker.Region and broker.Account.
	Region  string
	Account string
	// Credentials returns the secret key of an access key id. Nil turns
	// authentication off: any credentials, or none, are accepted.
	Credentials func(accessKeyID string) (secret string, ok bool)
	// AccountOf, when set, makes the handler act as the authenticated
	// caller: its access key id goes to the gRPC API in the
	// "nimbus-principal" metadata (the node authorizes and maps the call
	// into the caller's tenant there), and ARNs the handler builds carry
	// AccountOf(access key id).
	AccountOf func(accessKeyID string) string
	// MaxClockSkew bounds how far a signed request's X-Amz-Date may be
	// from now when authentication is on; 0 means 5 minutes.
	MaxClockSkew time.Duration
	// Now is the clock for the skew check; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Handler serves the AWS APIs. It is safe for concurrent use.
type Handler struct {
	cfg Config
	c   Clients
}

// New returns a Handler translating to c.
func New(cfg Config, c Clients) *Handler {
	if cfg.Region == "" {
		cfg.Region = broker.Region
	}
	if cfg.Account == "" {
		cfg.Account = broker.Account
	}
	if cfg.MaxClockSkew == 0 {
		cfg.MaxClockSkew = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, c: c}
}

// Target prefixes of the JSON protocols.
const (
	sqsTargetPrefix     = "AmazonSQS."
	kinesisTargetPrefix = "Kinesis_20131202."
)

// Query protocol API versions.
const (
	sqsQueryVersion = "2012-11-05"
	snsQueryVersion = "2010-03-31"
)

// ServeHTTP routes one AWS request: by X-Amz-Target for the JSON
// protocols, else by the form's Action and Version.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r = withRequestID(w, r)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	target := r.Header.Get("X-Amz-Target")
	// The service named by the protocol, for error formatting before the
	// action is known.
	svc := serviceOf(target, r, body)
	akid, err := h.authenticate(r, body)
	if err != nil {
		h.writeAuthError(w, requestIDOf(r), svc, err)
		return
	}
	if akid != "" && h.cfg.AccountOf != nil {
		ctx := metadata.AppendToOutgoingContext(r.Context(), principalMetadataKey, akid)
		r = r.WithContext(context.WithValue(ctx, accountKey{}, h.cfg.AccountOf(akid)))
	}
	switch svc {
	case serviceSQSJSON:
		h.serveSQSJSON(w, r, strings.TrimPrefix(target, sqsTargetPrefix), body)
	case serviceKinesis:
		h.serveKinesis(w, r, strings.TrimPrefix(target, kinesisTargetPrefix), body)
	case serviceSNS, serviceSQSQuery:
		form, err := url.ParseQuery(string(body))
		if err != nil {
			form = url.Values{}
		}
		// A query may also carry parameters in the URL (older SDKs send
		// GET-style queries; the form wins on a clash).
		for k, v := range r.URL.Query() {
			if _, ok := form[k]; !ok {
				form[k] = v
			}
		}
		if svc == serviceSNS {
			h.serveSNS(w, r, form)
		} else {
			h.serveSQSQuery(w, r, form)
		}
	default:
		writeUnknownTarget(w, target)
	}
}

type service int

const (
	serviceUnknown service = iota
	serviceSQSJSON
	serviceSQSQuery
	serviceSNS
	serviceKinesis
)

// serviceOf picks the API of a request without parsing it fully.
func serviceOf(target string, r *http.Request, body []byte) service {
	switch {
	case strings.HasPrefix(target, sqsTargetPrefix):
		return serviceSQSJSON
	case strings.HasPrefix(target, kinesisTargetPrefix):
		return serviceKinesis
	case target != "":
		return serviceUnknown
	}
	version := formValue(body, "Version")
	if version == "" {
		version = r.URL.Query().Get("Version")
	}
	if version == snsQueryVersion {
		return serviceSNS
	}
	return serviceSQSQuery
}

// formValue returns the first value of key in an urlencoded body without
// decoding the rest.
func formValue(body []byte, key string) string {
	prefix := []byte(key + "=")
	for len(body) > 0 {
		var part []byte
		if i := bytes.IndexByte(body, '&'); i >= 0 {
			part, body = body[:i], body[i+1:]
		} else {
			part, body = body, nil
		}
		if bytes.HasPrefix(part, prefix) {
			v, err := url.QueryUnescape(string(part[len(prefix):]))
			if err != nil {
				return ""
			}
			return v
		}
	}
	return ""
}

func writeUnknownTarget(w http.ResponseWriter, target string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = io.WriteString(w, `{"__type":"UnknownOperationException","message":"unknown X-Amz-Target `+jsonEscape(target)+`"}`)
}

func jsonEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			b.WriteString(" ")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// principalMetadataKey carries the authenticated access key id to the
// node's gRPC API (see Config.AccountOf).
const principalMetadataKey = "nimbus-principal"

type accountKey struct{}

// accountOf returns the account of the request's caller: its tenant's
// with authentication on, else the configured one.
func (h *Handler) accountOf(ctx context.Context) string {
	if a, ok := ctx.Value(accountKey{}).(string); ok && a != "" {
		return a
	}
	return h.cfg.Account
}
