package awsapi

import "net/http"

// serveSNS serves one SNS action over the query protocol.
func (h *Handler) serveSNS(w http.ResponseWriter, r *http.Request, form map[string][]string) {
	http.Error(w, "SNS not implemented yet", http.StatusNotImplemented)
}
