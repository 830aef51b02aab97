package main

import (
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Commands returns perAccount commands for each of accounts accounts
// ("acct-001", ...), interleaved across accounts in the order they are
// sent: an open, then deposits and withdrawals. Every third account gets
// an overdraft halfway through (a withdrawal above its balance, which the
// function refuses). The same seed gives the same commands.
func Commands(accounts, perAccount int, seed uint64) []Command {
	rng := rand.New(rand.NewPCG(seed, 0))
	balance := make([]int64, accounts)
	var out []Command
	for seq := 1; seq <= perAccount; seq++ {
		for a := range accounts {
			c := Command{Account: fmt.Sprintf("acct-%03d", a+1), Seq: seq}
			switch {
			case seq == 1:
				c.Type = "open"
			case a%3 == 1 && seq == perAccount/2+1:
				c.Type, c.Amount = "withdraw", balance[a]+1+rng.Int64N(10000)
			case balance[a] > 0 && rng.IntN(3) == 0:
				c.Type, c.Amount = "withdraw", 1+rng.Int64N(balance[a])
				balance[a] -= c.Amount
			default:
				c.Type, c.Amount = "deposit", 100+rng.Int64N(10000)
				balance[a] += c.Amount
			}
			out = append(out, c)
		}
	}
	return out
}

// Model applies cmds in order, per account, with the function's rules,
// leaving out the commands in skip (account -> seqs): the state every
// account must end in when the queue kept each account's order. skip is
// the commands dead-lettered although the function never refused them:
// those that were in a batch behind a refused command every time they
// were delivered (see README.md).
func Model(cmds []Command, skip map[string][]int) map[string]Account {
	accts := map[string]*Account{}
	for _, c := range cmds {
		a := accts[c.Account]
		if a == nil {
			a = &Account{ID: c.Account}
			accts[c.Account] = a
		}
		if slices.Contains(skip[c.Account], c.Seq) {
			continue
		}
		if why := a.decide(c); why != "" {
			if a.Rejected == nil {
				a.Rejected = map[int]string{}
			}
			a.Rejected[c.Seq] = why
			continue
		}
		a.apply(c)
	}
	out := make(map[string]Account, len(accts))
	for id, a := range accts {
		out[id] = *a
	}
	return out
}

// deadLettered returns the dead-lettered commands' seqs by account, and
// those of them the function never refused.
func deadLettered(dead []Command, accts []Account) (all, skipped map[string][]int) {
	refused := map[string]map[int]string{}
	for _, a := range accts {
		refused[a.ID] = a.Rejected
	}
	all, skipped = map[string][]int{}, map[string][]int{}
	for _, c := range dead {
		all[c.Account] = append(all[c.Account], c.Seq)
		if _, ok := refused[c.Account][c.Seq]; !ok {
			skipped[c.Account] = append(skipped[c.Account], c.Seq)
		}
	}
	for _, m := range []map[string][]int{all, skipped} {
		for _, seqs := range m {
			slices.Sort(seqs)
		}
	}
	return all, skipped
}

// checkAccount compares an account with the model: "ok", or what differs.
// dead and skipped are its dead-lettered seqs and those it never refused.
func checkAccount(got, want Account, dead, skipped []int) string {
	var diffs []string
	for i := 1; i < len(got.Applied); i++ {
		if got.Applied[i] <= got.Applied[i-1] {
			diffs = append(diffs, fmt.Sprintf("out of order: %d after %d", got.Applied[i], got.Applied[i-1]))
			break
		}
	}
	if got.Balance != want.Balance {
		diffs = append(diffs, fmt.Sprintf("balance %s, want %s", money(got.Balance), money(want.Balance)))
	}
	if !slices.Equal(got.Applied, want.Applied) {
		diffs = append(diffs, fmt.Sprintf("applied %v, want %v", got.Applied, want.Applied))
	}
	refused := slices.Sorted(maps.Keys(got.Rejected))
	if wantRefused := slices.Sorted(maps.Keys(want.Rejected)); !slices.Equal(refused, wantRefused) {
		diffs = append(diffs, fmt.Sprintf("refused %v, want %v", refused, wantRefused))
	}
	// Every refused command ends in the dead-letter queue, and so may
	// those right behind it, nothing else.
	for _, r := range refused {
		if !slices.Contains(dead, r) {
			diffs = append(diffs, fmt.Sprintf("refused command %d not dead-lettered", r))
		}
	}
	for _, s := range skipped {
		if !slices.Contains(dead, s-1) {
			diffs = append(diffs, fmt.Sprintf("command %d dead-lettered but not behind a refused one", s))
		}
	}
	if len(diffs) == 0 {
		return "ok"
	}
	return strings.Join(diffs, "; ")
}

// report prints each account's state and check, and returns how many
// accounts differ from the model.
func report(w io.Writer, r Result) int {
	dead, skipped := deadLettered(r.DeadLettered, r.Accounts)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tBALANCE\tAPPLIED\tLAST_SEQ\tREFUSED\tDEAD_LETTERED\tREDELIVERED\tCHECK")
	bad := 0
	seen := map[string]bool{}
	for _, a := range r.Accounts {
		seen[a.ID] = true
		check := checkAccount(a, r.Expected[a.ID], dead[a.ID], skipped[a.ID])
		if check != "ok" {
			bad++
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%d\t%s\n", a.ID, money(a.Balance), len(a.Applied), a.LastSeq,
			seqList(slices.Sorted(maps.Keys(a.Rejected))), seqList(dead[a.ID]), a.Redelivered, check)
	}
	for _, id := range slices.Sorted(maps.Keys(r.Expected)) {
		if !seen[id] {
			bad++
			fmt.Fprintf(tw, "%s\t-\t0\t0\t-\t%s\t0\tnever invoked\n", id, seqList(dead[id]))
		}
	}
	_ = tw.Flush()
	for _, a := range r.Accounts {
		for _, seq := range slices.Sorted(maps.Keys(a.Rejected)) {
			fmt.Fprintf(w, "%s command %d refused (%s), delivered again, then dead-lettered\n", a.ID, seq, a.Rejected[seq])
		}
		for _, seq := range skipped[a.ID] {
			behind := 0
			for r := range a.Rejected {
				if r < seq {
					behind = max(behind, r)
				}
			}
			fmt.Fprintf(w, "%s command %d dead-lettered unrefused: it came behind refused command %d in each of its batches\n", a.ID, seq, behind)
		}
	}
	return bad
}

func money(cents int64) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) }

func seqList(seqs []int) string {
	if len(seqs) == 0 {
		return "-"
	}
	s := make([]string, len(seqs))
	for i, q := range seqs {
		s[i] = strconv.Itoa(q)
	}
	return strings.Join(s, ",")
}

// oneLine returns the first line of s.
func oneLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
