package awsapi

import "net/http"

// serveKinesis serves one Kinesis action over AWS JSON 1.1.
func (h *Handler) serveKinesis(w http.ResponseWriter, r *http.Request, action string, body []byte) {
	http.Error(w, "Kinesis not implemented yet", http.StatusNotImplemented)
}
