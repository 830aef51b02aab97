package node

import (
	"context"
	"encoding/xml"
	"net/http"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nimbusmq/nimbus/broker"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// signingCertPath is where the node serves the certificate of the key
// that signs its HTTP/S notifications (SigningCertURL).
const signingCertPath = "/sns/SimpleNotificationService.pem"

// serveSNSLinks answers the two links SNS puts in the messages it POSTs to
// HTTP/S endpoints: a SubscriptionConfirmation's SubscribeURL
// (?Action=ConfirmSubscription&TopicArn=…&Token=…) and a notification's
// UnsubscribeURL (?Action=Unsubscribe&SubscriptionArn=…), with SNS's XML
// responses. Both go through this node's TopicService (so they reach the
// meta leader). Any other request is 404: the full SNS HTTP API is not
// served here.
func (n *Node) serveSNSLinks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	conn, err := n.peers.conn(n.PeerAddr())
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	tc := nimbusv1.NewTopicServiceClient(conn)
	type result struct {
		SubscriptionArn string `xml:"SubscriptionArn,omitempty"`
	}
	type response struct {
		XMLName   xml.Name
		Xmlns     string  `xml:"xmlns,attr"`
		Result    *result `xml:",omitempty"`
		RequestID string  `xml:"ResponseMetadata>RequestId"`
	}
	resp := response{Xmlns: "http://sns.amazonaws.com/doc/2010-03-31/", RequestID: broker.NewRequestID()}
	switch q.Get("Action") {
	case "ConfirmSubscription":
		out, err := tc.ConfirmSubscription(ctx, &nimbusv1.ConfirmSubscriptionRequest{TopicArn: q.Get("TopicArn"), Token: q.Get("Token"),
			AuthenticateOnUnsubscribe: q.Get("AuthenticateOnUnsubscribe") == "true"})
		if err != nil {
			snsLinkError(w, err)
			return
		}
		resp.XMLName = xml.Name{Local: "ConfirmSubscriptionResponse"}
		resp.Result = &result{SubscriptionArn: out.GetSubscriptionArn()}
	case "Unsubscribe":
		if _, err := tc.Unsubscribe(ctx, &nimbusv1.UnsubscribeRequest{SubscriptionArn: q.Get("SubscriptionArn")}); err != nil {
			snsLinkError(w, err)
			return
		}
		resp.XMLName = xml.Name{Local: "UnsubscribeResponse"}
	default:
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	_, _ = w.Write([]byte(xml.Header))
	_ = xml.NewEncoder(w).Encode(resp)
}

func snsLinkError(w http.ResponseWriter, err error) {
	st := status.Convert(err)
	code := http.StatusBadRequest
	switch st.Code() {
	case codes.NotFound:
		code = http.StatusNotFound
	case codes.Unavailable, codes.Internal, codes.Unknown, codes.DeadlineExceeded:
		code = http.StatusServiceUnavailable
	}
	http.Error(w, st.Message(), code)
}
