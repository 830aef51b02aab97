package auth

import "strings"

// Scope allows Actions (gRPC method names such as "SendMessage") on
// Resources (user-visible queue, topic, stream or trigger names). An empty
// list or "*" allows any; a trailing "*" matches a prefix.
type Scope struct {
	Actions   []string `json:"actions,omitempty"`
	Resources []string `json:"resources,omitempty"`
}

// Principal is an authenticated caller.
type Principal struct {
	AccessKeyID string
	Tenant      string
	Admin       bool
	// Scopes, when any, restrict what the principal may do: a request
	// must be allowed by one of them.
	Scopes []Scope
	// System marks the node's own calls (trigger on-failure publishes,
	// autoscaling): no tenant mapping, no checks.
	System bool
}

// Namespace returns the principal's tenant namespace.
func (p *Principal) Namespace() Namespace { return NewNamespace(p.Tenant) }

// Allows reports whether p's scopes allow action on every one of
// resources (with none, on any resource).
func (p *Principal) Allows(action string, resources []string) bool {
	if p.System || len(p.Scopes) == 0 {
		return true
	}
	for _, s := range p.Scopes {
		if !matchAny(s.Actions, action) {
			continue
		}
		ok := true
		for _, r := range resources {
			if !matchAny(s.Resources, r) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func matchAny(patterns []string, s string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if p == "*" || p == s {
			return true
		}
		if pre, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(s, pre) {
			return true
		}
	}
	return false
}

// ParseScope parses a scope flag: "actions=A,B;resources=R,S" (either
// part may be left out).
func ParseScope(s string) (Scope, error) {
	var sc Scope
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return sc, errScope(s)
		}
		var list []string
		for _, x := range strings.Split(v, ",") {
			if x = strings.TrimSpace(x); x != "" {
				list = append(list, x)
			}
		}
		switch strings.TrimSpace(k) {
		case "actions":
			sc.Actions = list
		case "resources":
			sc.Resources = list
		default:
			return sc, errScope(s)
		}
	}
	return sc, nil
}

type scopeError string

func (e scopeError) Error() string {
	return "scope " + string(e) + ` is not "actions=A,B;resources=R,S"`
}

func errScope(s string) error { return scopeError(s) }
