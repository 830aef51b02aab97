package node

import (
	"context"
	"encoding/xml"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nimbusmq/nimbus/broker"
	"github.com/nimbusmq/nimbus/broker/api/grpcapi"
	"github.com/nimbusmq/nimbus/broker/auth"
	"github.com/nimbusmq/nimbus/broker/catalog"
	"github.com/nimbusmq/nimbus/broker/cluster"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
	"github.com/nimbusmq/nimbus/storage"
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
		topicArn, err := n.linkArn(q.Get("TopicArn"))
		if err != nil {
			snsLinkError(w, err)
			return
		}
		out, err := tc.ConfirmSubscription(ctx, &nimbusv1.ConfirmSubscriptionRequest{TopicArn: topicArn, Token: q.Get("Token"),
			AuthenticateOnUnsubscribe: q.Get("AuthenticateOnUnsubscribe") == "true"})
		if err != nil {
			snsLinkError(w, err)
			return
		}
		resp.XMLName = xml.Name{Local: "ConfirmSubscriptionResponse"}
		resp.Result = &result{SubscriptionArn: q.Get("TopicArn") + strings.TrimPrefix(out.GetSubscriptionArn(), topicArn)}
	case "Unsubscribe":
		subArn, err := n.linkArn(q.Get("SubscriptionArn"))
		if err != nil {
			snsLinkError(w, err)
			return
		}
		if _, err := tc.Unsubscribe(ctx, &nimbusv1.UnsubscribeRequest{SubscriptionArn: subArn}); err != nil {
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

// linkArn maps an ARN of a link to its internal form. Nimbus writes the
// links with the ARNs the topic's tenant sees (its account id, plain
// names); the tenant is found by its account id in this node's
// catalogue. The default account's ARNs are internal already.
func (n *Node) linkArn(arn string) (string, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[4] == broker.Account {
		return arn, nil
	}
	tenant := ""
	err := n.db.View(func(txn *storage.Txn) error {
		ts, err := catalog.New(cluster.MetaGroup).Tenants(txn)
		for _, t := range ts {
			if t.AccountID == parts[4] {
				tenant = t.Name
			}
		}
		return err
	})
	if err != nil {
		return "", err
	}
	if tenant == "" {
		return "", broker.Errorf(broker.CodeResourceNotFound, "no tenant has account %s", parts[4])
	}
	return auth.NewNamespace(tenant).Ref(arn)
}

func snsLinkError(w http.ResponseWriter, err error) {
	if _, ok := status.FromError(err); !ok {
		err = grpcapi.Status(err)
	}
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
