package node

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/nimbusmq/nimbus/broker/auth"
)

// adminHTTP guards an operator endpoint (/metrics, /debug/pprof) when
// authentication is on: it needs an admin credential, as HTTP basic auth
// (user: access key id, password: secret; what Prometheus's basic_auth
// sends) or a NIMBUS-HMAC-SHA256 authorization signed over
// "HTTP <path>" (auth.SignGRPC with that method).
func (n *Node) adminHTTP(h http.Handler) http.Handler {
	if n.authn == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := n.authHTTP(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="nimbus"`)
			http.Error(w, "unauthenticated: "+err.Error(), http.StatusUnauthorized)
			return
		}
		if !p.Admin {
			http.Error(w, "forbidden: "+r.URL.Path+" needs an admin credential; access key "+p.AccessKeyID+" is not an admin", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

type httpAuthError string

func (e httpAuthError) Error() string { return string(e) }

func (n *Node) authHTTP(r *http.Request) (*auth.Principal, error) {
	if id, secret, ok := r.BasicAuth(); ok {
		p, want, err := n.authn.credential(id)
		if err != nil || subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
			return nil, httpAuthError("access key or secret is not valid")
		}
		return p, nil
	}
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, auth.Scheme+" ") {
		return nil, httpAuthError("an admin credential is required (HTTP basic auth with the access key id and secret)")
	}
	a, err := auth.ParseGRPCAuth(h)
	if err != nil {
		return nil, httpAuthError(err.Error())
	}
	p, secret, err := n.authn.credential(a.AccessKeyID)
	if err != nil {
		return nil, httpAuthError("access key " + a.AccessKeyID + " is not valid")
	}
	if err := auth.VerifyGRPC(a, secret, "HTTP "+r.URL.Path, n.authn.now(), n.authn.nonces); err != nil {
		return nil, httpAuthError(err.Error())
	}
	return p, nil
}
