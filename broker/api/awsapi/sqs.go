package awsapi

import "net/http"

// serveSQSJSON serves one SQS action over AWS JSON 1.0.
func (h *Handler) serveSQSJSON(w http.ResponseWriter, r *http.Request, action string, body []byte) {
	http.Error(w, "SQS JSON protocol not implemented yet", http.StatusNotImplemented)
}

// serveSQSQuery serves one SQS action over the query protocol.
func (h *Handler) serveSQSQuery(w http.ResponseWriter, r *http.Request, form map[string][]string) {
	http.Error(w, "SQS query protocol not implemented yet", http.StatusNotImplemented)
}
