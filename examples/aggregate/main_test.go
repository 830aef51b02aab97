package main

import (
	"bytes"
	"errors"
	"flag"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/nimbusmq/nimbus/broker/node/nodetest"
	"github.com/nimbusmq/nimbus/client"
)

// runExample runs the example against a real in-process node and checks
// what holds for any batch size: every account ends in the state its
// commands give when applied in order (leaving out the dead-lettered
// ones), the function applied each account's commands in increasing
// order, every refused command was delivered maxReceiveCount times and
// then dead-lettered, and a command dead-lettered unrefused was right
// behind one that was. The queues and the trigger are gone at the end.
func runExample(t *testing.T, args ...string) Result {
	t.Helper()
	n := nodetest.Start(t)
	var out, errOut bytes.Buffer
	args = append([]string{"--addr", n.GRPCAddr(), "--accounts", "9", "--commands", "10", "--wait", "30s"}, args...)
	res, err := run(t.Context(), args, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, &out, &errOut)
	}
	t.Logf("\n%s", &out)
	if res.Sent != 90 || len(res.Accounts) != 9 || len(res.Expected) != 9 {
		t.Fatalf("sent %d, %d accounts, %d expected", res.Sent, len(res.Accounts), len(res.Expected))
	}
	dead, _ := deadLettered(res.DeadLettered, res.Accounts)
	cmds := Commands(9, 10, 1)
	for _, a := range res.Accounts {
		want := res.Expected[a.ID]
		if !slices.IsSorted(a.Applied) || !slices.Equal(a.Applied, want.Applied) {
			t.Errorf("%s: applied %v, want %v (in order)", a.ID, a.Applied, want.Applied)
		}
		if a.Balance != want.Balance || a.LastSeq != want.LastSeq || !a.Open {
			t.Errorf("%s: balance %d, last seq %d, open %v; want %d, %d, true", a.ID, a.Balance, a.LastSeq, a.Open, want.Balance, want.LastSeq)
		}
		refused := slices.Sorted(maps.Keys(a.Rejected))
		if !slices.Equal(refused, slices.Sorted(maps.Keys(want.Rejected))) || a.Attempts != maxReceiveCount*len(refused) {
			t.Errorf("%s: refused %v (%d deliveries), want %v", a.ID, a.Rejected, a.Attempts, want.Rejected)
		}
		for _, d := range dead[a.ID] {
			if !slices.Contains(refused, d) && !slices.Contains(dead[a.ID], d-1) {
				t.Errorf("%s: command %d dead-lettered, neither refused nor behind a dead-lettered one", a.ID, d)
			}
		}
		for _, r := range refused {
			if !slices.Contains(dead[a.ID], r) {
				t.Errorf("%s: refused command %d not dead-lettered", a.ID, r)
			}
		}
		// Independently of Model: an account without an overdraft ends
		// with every command applied, 1 to 10, and the sum of its amounts.
		if len(dead[a.ID]) == 0 {
			var sum int64
			for _, c := range cmds {
				if c.Account == a.ID && c.Type == "deposit" {
					sum += c.Amount
				} else if c.Account == a.ID && c.Type == "withdraw" {
					sum -= c.Amount
				}
			}
			if a.Balance != sum || !slices.Equal(a.Applied, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}) || len(refused) != 0 {
				t.Errorf("%s: balance %d (want %d), applied %v, refused %v", a.ID, a.Balance, sum, a.Applied, refused)
			}
		}
	}
	if s := out.String(); strings.Count(s, " ok\n") != 9 || !strings.Contains(s, "insufficient funds") {
		t.Errorf("report:\n%s", s)
	}
	c, err := client.New(t.Context(), client.Config{Addr: n.GRPCAddr()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if qs, err := c.ListQueues(t.Context(), ""); err != nil || len(qs) != 0 {
		t.Errorf("queues after the run: %v, %v", qs, err)
	}
	if ts, err := c.ListTriggers(t.Context(), ""); err != nil || len(ts) != 0 {
		t.Errorf("triggers after the run: %v, %v", ts, err)
	}
	return res
}

// TestAggregateExample: batches of 10; the three overdrafts (every third
// account's command 6) are refused and dead-lettered, perhaps with the
// commands behind them in their batches.
func TestAggregateExample(t *testing.T) {
	t.Parallel()
	res := runExample(t)
	refused := 0
	for _, a := range res.Accounts {
		refused += len(a.Rejected)
		if _, ok := a.Rejected[6]; ok != (a.ID == "acct-002" || a.ID == "acct-005" || a.ID == "acct-008") {
			t.Errorf("%s: refused %v", a.ID, a.Rejected)
		}
	}
	if refused < 3 {
		t.Errorf("%d commands refused, want the 3 overdrafts at least", refused)
	}
}

// TestAggregateExampleOneByOne: with batches of one, nothing is ever
// behind a refused command in a batch, so exactly the overdrafts are
// dead-lettered and every other command is applied.
func TestAggregateExampleOneByOne(t *testing.T) {
	t.Parallel()
	res := runExample(t, "--batch-size", "1")
	if len(res.DeadLettered) != 3 {
		t.Errorf("dead-lettered %+v, want the 3 overdrafts", res.DeadLettered)
	}
	for _, c := range res.DeadLettered {
		if c.Seq != 6 || c.Type != "withdraw" {
			t.Errorf("dead-lettered %+v", c)
		}
	}
	for _, a := range res.Accounts {
		if want := 10 - len(a.Rejected); len(a.Applied) != want {
			t.Errorf("%s: %d applied, want %d", a.ID, len(a.Applied), want)
		}
	}
}

func TestAggregateFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--accounts", "0"}, {"--commands", "1"}, {"--wait", "0s"}, {"--batch-size", "11"}, {"extra"}, {"--nope"}} {
		_, err := run(t.Context(), args, &bytes.Buffer{}, &bytes.Buffer{})
		var u usageError
		if !errors.As(err, &u) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: err %v, want a one-line usage error", args, err)
		}
	}
	var help bytes.Buffer
	if _, err := run(t.Context(), []string{"-h"}, &bytes.Buffer{}, &help); !errors.Is(err, flag.ErrHelp) || !strings.Contains(help.String(), "-accounts") {
		t.Errorf("-h: %v\n%s", err, &help)
	}
}

// TestModel: the model refuses overdrafts and keeps the balance.
func TestModel(t *testing.T) {
	t.Parallel()
	cmds := Commands(3, 6, 7)
	if len(cmds) != 18 || cmds[0].Type != "open" || cmds[1].Account != "acct-002" {
		t.Fatalf("commands %+v", cmds)
	}
	m := Model(cmds, nil)
	for id, a := range m {
		if a.Balance < 0 || len(a.Applied)+len(a.Rejected) != 6 {
			t.Errorf("%s: %+v", id, a)
		}
	}
	if len(m["acct-002"].Rejected) != 1 || len(m["acct-001"].Rejected) != 0 {
		t.Errorf("refusals: %+v", m)
	}
}
