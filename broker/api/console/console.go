package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// Prefix is the path the console is mounted at; every page and API path
// starts with it.
const Prefix = "/console/"

// maxBodyBytes bounds a JSON request: a 1 MiB message body, JSON-escaped,
// plus its attributes.
const maxBodyBytes = 8 << 20

//go:embed static
var staticFiles embed.FS

// Clients are the gRPC services the console's JSON API calls.
type Clients struct {
	Cluster   nimbusv1.ClusterServiceClient
	Queues    nimbusv1.QueueServiceClient
	Topics    nimbusv1.TopicServiceClient
	Streams   nimbusv1.StreamServiceClient
	Consumers nimbusv1.StreamConsumerServiceClient
	Groups    nimbusv1.StreamGroupServiceClient
	Triggers  nimbusv1.TriggerServiceClient
}

// Authenticator checks a console request and says whom it acts for. An
// error answers 401 with the error's text and a Basic challenge (so a
// browser asks for an access key id and secret). It runs on the request's
// goroutine, for every page and API request, and must be safe for
// concurrent use.
type Authenticator func(r *http.Request) (Caller, error)

// Caller is whom a console request acts for.
type Caller struct {
	// AccessKeyID goes with every gRPC call as the nimbus-principal
	// metadata (as the AWS handler sends it), so the node authorizes and
	// maps each call as this caller's; "" calls as the node itself, which
	// only an unauthenticated console may do.
	AccessKeyID string
	// Metrics lets the caller see the nodes' metrics (rates, ages,
	// trigger counts): operator data, series named by internal names, as
	// /metrics is admin-only. Without it those fields are null.
	Metrics bool
	// authorization is the request's Authorization header, sent with the
	// other nodes' /metrics requests.
	authorization string
}

type callerKey struct{}

// callerOf returns the caller a request context carries.
func callerOf(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// principalMetadataKey carries the caller's access key id to the node's
// gRPC API (see Caller.AccessKeyID).
const principalMetadataKey = "nimbus-principal"

// Config configures a Handler. The zero value works: no authentication,
// metrics scraped over plain HTTP.
type Config struct {
	// Authenticate, when set, is called before every request is served
	// (see Authenticator). Nil: the console is open and calls the API as
	// the node itself (a node without authentication).
	Authenticate Authenticator
	// LocalMetrics is this node's metric registry; the node's own series
	// are read from it instead of over HTTP. Nil: scraped over HTTP like
	// every other node's.
	LocalMetrics prometheus.Gatherer
	// MetricsClient fetches other nodes' /metrics. Nil: a client with a
	// one-second timeout, no keep-alive and no proxy.
	MetricsClient *http.Client
	// MetricsScheme is the scheme of the nodes' HTTP ports: "http" when
	// empty.
	MetricsScheme string
	// CallTimeout bounds each JSON API request's gRPC calls; 0 means 10 s.
	CallTimeout time.Duration
	// Now is the clock for ages and rates; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Handler serves the console: the pages and the JSON API. It is safe for
// concurrent use.
type Handler struct {
	cfg     Config
	c       Clients
	mux     *http.ServeMux
	metrics *scraper
}

// New returns a Handler calling c.
func New(cfg Config, c Clients) *Handler {
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MetricsClient == nil {
		// No keep-alive: at most one scrape a second per node, and no
		// idle connection (and its goroutines) outlives the node. No
		// proxy: the nodes talk directly.
		cfg.MetricsClient = &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	}
	if cfg.MetricsScheme == "" {
		cfg.MetricsScheme = "http"
	}
	h := &Handler{cfg: cfg, c: c, mux: http.NewServeMux(),
		metrics: newScraper(cfg.LocalMetrics, cfg.MetricsClient, cfg.MetricsScheme, cfg.Now)}
	h.routes()
	return h
}

func (h *Handler) routes() {
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic("console: " + err.Error()) // the embedded tree always has it
	}
	files := http.StripPrefix(strings.TrimSuffix(Prefix, "/"), http.FileServerFS(static))
	h.mux.Handle("GET "+Prefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The pages change with the binary: never serve a stale one.
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
	api := func(pattern string, f func(ctx context.Context, r *http.Request) (any, error)) {
		h.mux.Handle(pattern, h.json(f))
	}
	api("GET /console/api/cluster", h.cluster)
	api("GET /console/api/queues", h.queues)
	api("GET /console/api/queues/{name}", h.queue)
	api("POST /console/api/queues/{name}/messages", h.sendMessage)
	api("POST /console/api/queues/{name}/peek", h.peek)
	api("POST /console/api/queues/{name}/redrive", h.startRedrive)
	api("POST /console/api/queues/{name}/redrive/cancel", h.cancelRedrive)
	api("GET /console/api/topics", h.topics)
	api("GET /console/api/topics/{name}", h.topic)
	api("POST /console/api/topics/{name}/publish", h.publish)
	api("GET /console/api/streams", h.streams)
	api("GET /console/api/streams/{name}", h.stream)
	api("GET /console/api/streams/{name}/groups/{group}", h.streamGroup)
	api("GET /console/api/triggers", h.triggers)
	api("GET /console/api/triggers/{name}", h.trigger)
	notFound := func(context.Context, *http.Request) (any, error) {
		return nil, errNotFound("no such console API endpoint")
	}
	api("GET /console/api/", notFound)
	api("POST /console/api/", notFound)
}

// ServeHTTP authenticates the request (when configured) and serves it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	caller := Caller{Metrics: true}
	if h.cfg.Authenticate != nil {
		c, err := h.cfg.Authenticate(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="nimbus console"`)
			writeError(w, &apiError{status: http.StatusUnauthorized, code: "UNAUTHENTICATED", msg: err.Error()})
			return
		}
		caller = c
	}
	caller.authorization = r.Header.Get("Authorization")
	ctx := context.WithValue(r.Context(), callerKey{}, caller)
	if caller.AccessKeyID != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, principalMetadataKey, caller.AccessKeyID)
	}
	h.mux.ServeHTTP(w, r.WithContext(ctx))
}

// json adapts an API function: it bounds the call's time and writes the
// result, or the error, as JSON.
func (h *Handler) json(f func(ctx context.Context, r *http.Request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), h.cfg.CallTimeout)
		defer cancel()
		v, err := f(ctx, r)
		if err != nil {
			ae := toAPIError(err)
			if ae.status >= 500 {
				h.cfg.Logger.Warn("console api call failed", "path", r.URL.Path, "status", ae.status, "err", err)
			}
			writeError(w, ae)
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// apiError is an error with its HTTP status and a stable code: the
// Nimbus error code name when the gRPC API gave one.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errBadRequest(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, code: "INVALID_ARGUMENT", msg: fmt.Sprintf(format, args...)}
}

func errNotFound(format string, args ...any) error {
	return &apiError{status: http.StatusNotFound, code: "RESOURCE_NOT_FOUND", msg: fmt.Sprintf(format, args...)}
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeError(w http.ResponseWriter, e *apiError) {
	writeJSON(w, e.status, errorBody{Error: e.msg, Code: e.code})
}

// httpStatus maps gRPC codes to HTTP statuses: bad input is 400, an
// unknown resource 404, a conflict with the current state 409, a broker
// that cannot answer now 503.
var httpStatus = map[codes.Code]int{
	codes.InvalidArgument:    http.StatusBadRequest,
	codes.OutOfRange:         http.StatusBadRequest,
	codes.NotFound:           http.StatusNotFound,
	codes.AlreadyExists:      http.StatusConflict,
	codes.FailedPrecondition: http.StatusConflict,
	codes.Aborted:            http.StatusConflict,
	codes.Unauthenticated:    http.StatusUnauthorized,
	codes.PermissionDenied:   http.StatusForbidden,
	codes.ResourceExhausted:  http.StatusTooManyRequests,
	codes.Unavailable:        http.StatusServiceUnavailable,
	codes.DeadlineExceeded:   http.StatusGatewayTimeout,
	codes.Canceled:           499, // the browser went away
	codes.Unimplemented:      http.StatusNotImplemented,
}

// toAPIError converts an API function's error: an *apiError as it is, a
// gRPC status by httpStatus with its ErrorInfo reason as the code.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	st, ok := status.FromError(err)
	if !ok {
		return &apiError{status: http.StatusInternalServerError, code: "INTERNAL", msg: err.Error()}
	}
	code := st.Code().String()
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() != "" {
			code = info.GetReason()
		}
	}
	hs, ok := httpStatus[st.Code()]
	if !ok {
		hs = http.StatusInternalServerError
	}
	return &apiError{status: hs, code: code, msg: st.Message()}
}

// decode reads a JSON request body into v. The body must be one JSON
// object of v's shape (unknown members are refused, to catch typos), sent
// as application/json: a cross-site HTML form cannot send that without a
// CORS preflight, which the console never grants.
func decode(r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return errBadRequest("the request body must be JSON (Content-Type: application/json)")
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBodyBytes+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errBadRequest("the request body is empty; send a JSON object")
		}
		return errBadRequest("bad JSON body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errBadRequest("bad JSON body: data after the object")
	}
	return nil
}

// lastSegment returns what follows the last '/' or ':' of a queue URL or
// an ARN: the resource's name.
func lastSegment(s string) string {
	return s[strings.LastIndexAny(s, "/:")+1:]
}

// parallel runs f(i) for i in [0, n) with at most 8 running at once, and
// returns when all are done.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}

// msTime renders a Unix millisecond time as RFC 3339 ("" for 0).
func msTime(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}
