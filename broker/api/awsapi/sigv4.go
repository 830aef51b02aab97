package awsapi

import "net/http"

// authenticate verifies the request's SigV4 signature when credentials are
// configured. TODO(sigv4 helper): implement; see the package doc.
func (h *Handler) authenticate(r *http.Request, body []byte) error {
	return nil
}

// writeAuthError writes an authentication failure in svc's error format.
func (h *Handler) writeAuthError(w http.ResponseWriter, svc service, err error) {
	http.Error(w, err.Error(), http.StatusForbidden)
}
