package main

// The function: what a team would deploy as its aggregate's function (a
// Lambda handler, a Knative service, any HTTP server). Nimbus POSTs it
// Lambda's SQS event; it answers Lambda's partial batch response.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/events"
)

// Command is one command for an account (the aggregate). The sender sends
// an account's commands to the FIFO queue with MessageGroupId = Account,
// numbered by Seq from 1 in the order it issues them.
type Command struct {
	Account string `json:"account"`
	Seq     int    `json:"seq"`
	// Type is "open", "deposit" or "withdraw".
	Type string `json:"type"`
	// Amount is in cents, > 0 for deposits and withdrawals.
	Amount int64 `json:"amount"`
}

// Account is the state of one aggregate, as the function keeps it.
type Account struct {
	ID      string `json:"id"`
	Open    bool   `json:"open"`
	Balance int64  `json:"balance"`
	// LastSeq is the highest Seq applied; Applied every applied Seq, in
	// the order the function applied them (it must be increasing: the
	// queue delivered the account's commands in order).
	LastSeq int   `json:"last_seq"`
	Applied []int `json:"applied"`
	// Rejected maps the Seq of each command the function refused to why;
	// Attempts counts deliveries of refused commands.
	Rejected map[int]string `json:"rejected,omitempty"`
	Attempts int            `json:"rejected_attempts,omitempty"`
	// Redelivered counts deliveries of commands already applied (an
	// at-least-once redelivery, answered as done and not applied twice).
	Redelivered int `json:"redelivered,omitempty"`
}

// decide checks c against a (in the order of a's commands) and returns
// why it is refused, or "" when it may be applied.
func (a *Account) decide(c Command) string {
	switch c.Type {
	case "open":
		if a.Open {
			return "account already open"
		}
		return ""
	case "deposit", "withdraw":
	default:
		return fmt.Sprintf("unknown command %q", c.Type)
	}
	switch {
	case !a.Open:
		return "account not open"
	case c.Amount <= 0:
		return fmt.Sprintf("amount must be positive, got %d", c.Amount)
	case c.Type == "withdraw" && c.Amount > a.Balance:
		return fmt.Sprintf("insufficient funds: balance %d, withdraw %d", a.Balance, c.Amount)
	}
	return ""
}

// apply applies a command decide accepted.
func (a *Account) apply(c Command) {
	switch c.Type {
	case "open":
		a.Open = true
	case "deposit":
		a.Balance += c.Amount
	case "withdraw":
		a.Balance -= c.Amount
	}
	a.LastSeq = c.Seq
	a.Applied = append(a.Applied, c.Seq)
}

// Function holds every account's state and serves the trigger's
// invocations. It is safe for concurrent invocations: the trigger runs
// batches of different accounts in parallel (never two of one account).
type Function struct {
	mu       sync.Mutex
	accounts map[string]*Account // guarded by mu
	applied  int                 // commands applied, all accounts; guarded by mu
}

// NewFunction returns a function with no accounts.
func NewFunction() *Function {
	return &Function{accounts: map[string]*Account{}}
}

// ServeHTTP handles one invocation: a Lambda SQS event whose records are
// commands in queue order (per account). It applies each in turn. A
// command it refuses, and every later command of the same account in the
// batch, are listed in batchItemFailures: the queue keeps them, in order,
// and delivers them again (after the visibility timeout) until its
// RedrivePolicy moves the refused command to the dead-letter queue
// (commands delivered behind it in every batch may go with it: each
// delivery counts); the account's later commands then follow. A command
// already applied (a redelivery) is acknowledged without applying it
// twice.
func (f *Function) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev events.SQSEvent
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
		// A function error: the whole batch comes back.
		w.WriteHeader(http.StatusOK)
		_ = json.NewEncoder(w).Encode(map[string]string{"errorType": "BadEvent", "errorMessage": err.Error()})
		return
	}
	resp := f.Handle(ev)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// Handle applies an event's commands and returns the partial batch
// response (see ServeHTTP).
func (f *Function) Handle(ev events.SQSEvent) events.SQSEventResponse {
	f.mu.Lock()
	defer f.mu.Unlock()
	var resp events.SQSEventResponse
	resp.BatchItemFailures = []events.SQSBatchItemFailure{}
	blocked := map[string]bool{} // accounts with a refused command in this batch
	for _, rec := range ev.Records {
		fail := func() {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
		}
		group := rec.Attributes["MessageGroupId"]
		if blocked[group] {
			fail() // keep the account's order: nothing after a refusal
			continue
		}
		var c Command
		if err := json.Unmarshal([]byte(rec.Body), &c); err != nil || c.Account == "" || c.Account != group || c.Seq < 1 {
			blocked[group] = true
			fail()
			continue
		}
		a := f.accounts[c.Account]
		if a == nil {
			a = &Account{ID: c.Account}
			f.accounts[c.Account] = a
		}
		if c.Seq <= a.LastSeq {
			a.Redelivered++
			continue
		}
		if why := a.decide(c); why != "" {
			if a.Rejected == nil {
				a.Rejected = map[int]string{}
			}
			a.Rejected[c.Seq] = why
			a.Attempts++
			blocked[group] = true
			fail()
			continue
		}
		a.apply(c)
		f.applied++
	}
	return resp
}

// Applied returns how many commands were applied, all accounts.
func (f *Function) Applied() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied
}

// Accounts returns a copy of every account's state, sorted by id.
func (f *Function) Accounts() []Account {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Account, 0, len(f.accounts))
	for _, a := range f.accounts {
		c := *a
		c.Applied = slices.Clone(a.Applied)
		if a.Rejected != nil {
			c.Rejected = make(map[int]string, len(a.Rejected))
			for k, v := range a.Rejected {
				c.Rejected[k] = v
			}
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(x, y Account) int { return strings.Compare(x.ID, y.ID) })
	return out
}
