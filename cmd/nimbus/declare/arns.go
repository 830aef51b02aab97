package declare

import (
	"regexp"
	"strings"

	"github.com/nimbusmq/nimbus/broker"
)

// Accounts. A file names resources by name, and the ARNs Parse builds
// from names (a dead-letter queue's, a subscription's queue) carry
// broker.Account. A credential of a tenant sees and must send ARNs of its
// tenant's account instead (State.Account). So the plan compares in the
// canonical form, ARNs of broker.Account: ReadState rewrites what it
// reads to it, the planner rewrites the file's values to it before
// comparing, and every value sent to the broker is rewritten back to
// State.Account (local).

// arnAccount matches the account field of an ARN of this broker.
var arnAccount = regexp.MustCompile(`arn:aws:(?:sqs|sns|kinesis|lambda):[a-z0-9-]*:([0-9]{12}):`)

// swapAccount returns s with the account of every ARN of account from
// rewritten to account to.
func swapAccount(s, from, to string) string {
	if from == to || !strings.Contains(s, from) {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range arnAccount.FindAllStringSubmatchIndex(s, -1) {
		if s[m[2]:m[3]] == from {
			b.WriteString(s[last:m[2]])
			b.WriteString(to)
			last = m[3]
		}
	}
	b.WriteString(s[last:])
	return b.String()
}

// account returns the account of the state's credential.
func (st *State) account() string {
	if st == nil || st.Account == "" {
		return broker.Account
	}
	return st.Account
}

// canon rewrites the state's account to broker.Account in s.
func (st *State) canon(s string) string { return swapAccount(s, st.account(), broker.Account) }

// local rewrites broker.Account to the state's account in s.
func (st *State) local(s string) string { return swapAccount(s, broker.Account, st.account()) }

// mapValues returns m with f applied to every value (nil for nil).
func mapValues(m map[string]string, f func(string) string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = f(v)
	}
	return out
}
