package trigger

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// DefaultTimeout is the invocation timeout of a Call without one.
	DefaultTimeout = 30 * time.Second
	// DefaultRawParallelism bounds the concurrent requests of one
	// FormatRaw call when Invoker.RawParallelism is 0.
	DefaultRawParallelism = 16
	// MaxResponseBytes is how much of an answer Invoke reads: Lambda's
	// limit for a synchronous response payload (6 MB).
	MaxResponseBytes = 6 << 20
)

// Invoker makes invocations. Its zero value is ready to use; it is safe
// for concurrent use, and one Invoker should serve every trigger of a
// node so that connections are pooled.
type Invoker struct {
	// Client makes the requests; nil means NewHTTPClient().
	Client *http.Client
	// RawParallelism bounds the concurrent requests of one FormatRaw call
	// (0: DefaultRawParallelism). It multiplies a trigger's concurrency.
	RawParallelism int

	once sync.Once
	def  *http.Client
}

// NewHTTPClient returns the client an Invoker uses by default: keep-alive
// pools sized for a thousand concurrent invocations per endpoint, a 5 s
// connect timeout, HTTP/2 over TLS when offered, no redirects (a 3xx is
// a failure), and no overall timeout (Call.Timeout bounds each request).
func NewHTTPClient() *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           d.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          0, // no global limit; per host below
			MaxIdleConnsPerHost:   1024,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (inv *Invoker) client() *http.Client {
	if inv.Client != nil {
		return inv.Client
	}
	inv.once.Do(func() { inv.def = NewHTTPClient() })
	return inv.def
}

// Call is one invocation: a batch for an endpoint.
type Call struct {
	// Endpoint is the URL POSTed to (a Lambda invoke URL, a Knative
	// service, an OpenFaaS function, any HTTP server).
	Endpoint string
	// Format is how the batch is rendered.
	Format Format
	// Timeout bounds each request, from sending to the end of the answer
	// (0: DefaultTimeout). Running past it is a Failure, not a throttle:
	// the function may have processed the batch.
	Timeout time.Duration
	// ReportBatchItemFailures makes a 2xx answer's batchItemFailures
	// count (Lambda's FunctionResponseTypes).
	ReportBatchItemFailures bool
	// Batch is what is sent.
	Batch Batch
	// Header holds extra request headers (traceparent, authorization);
	// the format's own headers win over them. May be nil.
	Header http.Header
}

// Invoke sends c and classifies the answer (see Classify and the package
// documentation). It never returns an error: what went wrong is in the
// Result. An empty batch is a Success without a request. With FormatRaw
// and several items, each item is its own request; items of one message
// group (or, for streams, one partition key) go one after another in
// batch order and the rest of a group is not sent after a failure, while
// distinct groups and ungrouped items go concurrently (up to
// RawParallelism).
func (inv *Invoker) Invoke(ctx context.Context, c Call) Result {
	start := time.Now()
	if len(c.Batch.Items) == 0 {
		return Result{Outcome: Success}
	}
	reqs, err := Encode(c.Format, c.Batch)
	if err != nil {
		return failed(Result{Duration: time.Since(start)}, c.Batch.IDs(), ErrorTypeInvalidRequest, err.Error())
	}
	var r Result
	if len(reqs) == 1 {
		r = inv.send(ctx, &c, &reqs[0])
	} else {
		r = inv.sendRaw(ctx, &c, reqs)
	}
	r.Duration = time.Since(start)
	return r
}

// send makes one request and classifies its answer.
func (inv *Invoker) send(ctx context.Context, c *Call, req *Request) Result {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var wrote atomic.Bool
	cctx = httptrace.WithClientTrace(cctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				wrote.Store(true)
			}
		},
	})
	hr, err := http.NewRequestWithContext(cctx, http.MethodPost, c.Endpoint, bytes.NewReader(req.Body))
	if err != nil {
		return failed(Result{}, req.IDs, ErrorTypeInvalidRequest, err.Error())
	}
	for k, v := range c.Header {
		hr.Header[k] = append([]string(nil), v...)
	}
	for k, v := range req.Header {
		hr.Header[k] = v
	}
	if hr.Header.Get("User-Agent") == "" {
		hr.Header.Set("User-Agent", UserAgent)
	}
	resp, err := inv.client().Do(hr)
	if err != nil {
		return transportResult(ctx, err, wrote.Load(), req.IDs)
	}
	body, readErr := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	_ = resp.Body.Close()
	r := Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
	if len(body) > MaxResponseBytes {
		r.Body, r.Truncated = body[:MaxResponseBytes], true
	}
	throttle := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable
	if readErr != nil && !throttle {
		res := transportResult(ctx, readErr, true, req.IDs)
		res.Status = resp.StatusCode
		return res
	}
	return Classify(c.Format, r, req.IDs, c.ReportBatchItemFailures)
}

// transportResult classifies a request that got no complete answer. A
// request never fully written cannot have reached the function: it is
// Throttled (connection refused, DNS, dial or TLS failures, even when
// the timeout ran out while connecting). One that was written is a
// Failure: the function may have run.
func transportResult(ctx context.Context, err error, wrote bool, ids []string) Result {
	r := Result{}
	switch {
	case ctx.Err() != nil && !wrote:
		return throttled(r, ids, ErrorTypeCanceled, err.Error())
	case ctx.Err() != nil:
		return failed(r, ids, ErrorTypeCanceled, err.Error())
	case !wrote:
		return throttled(r, ids, ErrorTypeConnection, err.Error())
	case isTimeout(err):
		return failed(r, ids, ErrorTypeTimeout, err.Error())
	default:
		return failed(r, ids, ErrorTypeTransport, err.Error())
	}
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// sendRaw sends one request per item: groups in parallel, each group's
// items in order.
func (inv *Invoker) sendRaw(ctx context.Context, c *Call, reqs []Request) Result {
	results := make([]Result, len(reqs))
	groups := rawGroups(&c.Batch)
	par := inv.RawParallelism
	if par <= 0 {
		par = DefaultRawParallelism
	}
	par = min(par, len(groups))
	work := make(chan []int)
	var wg sync.WaitGroup
	for range par {
		wg.Go(func() {
			for g := range work {
				inv.sendGroup(ctx, c, reqs, g, results)
			}
		})
	}
	for _, g := range groups {
		work <- g
	}
	close(work)
	wg.Wait()
	return combine(results, c.Batch.IDs())
}

// rawGroups splits b's item indexes into ordering groups, in batch order:
// one per FIFO message group (queues, topics) or partition key
// (streams); an item without one is a group by itself.
func rawGroups(b *Batch) [][]int {
	var groups [][]int
	byKey := make(map[string]int)
	for i := range b.Items {
		it := &b.Items[i]
		key := it.groupID()
		if b.Source == SourceStream {
			key = it.PartitionKey
		}
		if key == "" {
			groups = append(groups, []int{i})
			continue
		}
		g, ok := byKey[key]
		if !ok {
			g = len(groups)
			byKey[key] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	return groups
}

// sendGroup sends a group's items in order; after one that did not
// succeed the rest are not sent and share its fate (Throttled after a
// throttle, Failure after a failure).
func (inv *Invoker) sendGroup(ctx context.Context, c *Call, reqs []Request, g []int, results []Result) {
	for n, i := range g {
		results[i] = inv.send(ctx, c, &reqs[i])
		if results[i].Outcome == Success {
			continue
		}
		msg := "not sent: item " + reqs[i].IDs[0] + " before it in its group did not succeed"
		for _, j := range g[n+1:] {
			if results[i].Outcome == Throttled {
				results[j] = throttled(Result{}, reqs[j].IDs, ErrorTypeNotSent, msg)
			} else {
				results[j] = failed(Result{}, reqs[j].IDs, ErrorTypeNotSent, msg)
			}
		}
		return
	}
}

// combine merges per-item results: all succeeded → Success; none failed
// but some throttled → Throttled (the throttled items only); some
// succeeded and some not → PartialFailure; none succeeded → Failure.
// Status, ErrorType and ErrorMessage come from the first failed item, or
// else the first throttled one.
func combine(results []Result, ids []string) Result {
	var r Result
	var first, firstThrottle *Result
	ok, fails := 0, 0
	for i := range results {
		x := &results[i]
		switch x.Outcome {
		case Success:
			ok++
			continue
		case Throttled:
			r.Throttled = append(r.Throttled, ids[i])
			r.RetryAfter = max(r.RetryAfter, x.RetryAfter)
			if firstThrottle == nil {
				firstThrottle = x
			}
		default:
			fails++
			if first == nil {
				first = x
			}
		}
		r.Failed = append(r.Failed, ids[i])
	}
	if first == nil {
		first = firstThrottle
	}
	if first != nil {
		r.Status, r.ErrorType, r.ErrorMessage = first.Status, first.ErrorType, first.ErrorMessage
	} else {
		r.Status = results[0].Status
	}
	switch {
	case len(r.Failed) == 0:
		r.Outcome = Success
	case fails == 0:
		r.Outcome = Throttled
	case ok == 0:
		r.Outcome = Failure
	default:
		r.Outcome = PartialFailure
	}
	return r
}
