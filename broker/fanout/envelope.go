package fanout

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/nimbusmq/nimbus/broker"
)

// TimestampFormat is SNS's Timestamp: ISO-8601 UTC with milliseconds.
const TimestampFormat = "2006-01-02T15:04:05.000Z"

// UserAgent is the User-Agent of SNS's HTTP/S deliveries.
const UserAgent = "Amazon Simple Notification Service Agent"

// SNS's HTTP/S headers, spelt as SNS sends them.
const (
	HeaderMessageType     = "x-amz-sns-message-type"
	HeaderMessageID       = "x-amz-sns-message-id"
	HeaderTopicArn        = "x-amz-sns-topic-arn"
	HeaderSubscriptionArn = "x-amz-sns-subscription-arn"
	HeaderRawDelivery     = "x-amz-sns-rawdelivery"
)

// Message types (the envelope's Type and x-amz-sns-message-type).
const (
	TypeNotification             = "Notification"
	TypeSubscriptionConfirmation = "SubscriptionConfirmation"
)

// Notification is SNS's Notification envelope: what a non-raw
// subscription receives as the body (queues, streams, HTTP/S).
type Notification struct {
	MessageID string
	// SequenceNumber is set on FIFO topics, whose envelopes carry it and
	// no signature.
	SequenceNumber string
	TopicArn       string
	Subject        string // omitted when ""
	Message        string
	Timestamp      time.Time
	// SignatureVersion, Signature and SigningCertURL are omitted when
	// SignatureVersion is "".
	SignatureVersion  string
	Signature         string
	SigningCertURL    string
	UnsubscribeURL    string
	MessageAttributes map[string]broker.AttributeValue // omitted when empty
}

// StringToSign is SNS's canonical string of a notification: the names and
// values of Message, MessageId, Subject (when set), Timestamp, TopicArn
// and Type, each followed by a newline.
func (n Notification) StringToSign() string {
	var b strings.Builder
	kv := func(k, v string) { b.WriteString(k + "\n" + v + "\n") }
	kv("Message", n.Message)
	kv("MessageId", n.MessageID)
	if n.Subject != "" {
		kv("Subject", n.Subject)
	}
	kv("Timestamp", n.Timestamp.UTC().Format(TimestampFormat))
	kv("TopicArn", n.TopicArn)
	kv("Type", TypeNotification)
	return b.String()
}

// JSON renders the envelope byte for byte as SNS does: two-space
// indented "Key" : value lines in SNS's field order, each message
// attribute as a compact {"Type":…,"Value":…} object (binary values in
// base64), attributes sorted by name.
func (n Notification) JSON() []byte {
	var w envWriter
	w.field("Type", TypeNotification)
	w.field("MessageId", n.MessageID)
	if n.SequenceNumber != "" {
		w.field("SequenceNumber", n.SequenceNumber)
	}
	w.field("TopicArn", n.TopicArn)
	if n.Subject != "" {
		w.field("Subject", n.Subject)
	}
	w.field("Message", n.Message)
	w.field("Timestamp", n.Timestamp.UTC().Format(TimestampFormat))
	if n.SignatureVersion != "" {
		w.field("SignatureVersion", n.SignatureVersion)
		w.field("Signature", n.Signature)
		w.field("SigningCertURL", n.SigningCertURL)
	}
	w.field("UnsubscribeURL", n.UnsubscribeURL)
	if len(n.MessageAttributes) > 0 {
		w.attributes(n.MessageAttributes)
	}
	return w.close()
}

// Confirmation is SNS's SubscriptionConfirmation message, POSTed once to
// a new HTTP/S subscription's endpoint.
type Confirmation struct {
	MessageID        string
	Token            string
	TopicArn         string
	SubscribeURL     string
	Timestamp        time.Time
	SignatureVersion string // "" omits the signature fields
	Signature        string
	SigningCertURL   string
}

// ConfirmationText is the Message of a SubscriptionConfirmation.
func ConfirmationText(topicArn string) string {
	return "You have chosen to subscribe to the topic " + topicArn +
		".\nTo confirm the subscription, visit the SubscribeURL included in this message."
}

// StringToSign is SNS's canonical string of a confirmation: Message,
// MessageId, SubscribeURL, Timestamp, Token, TopicArn and Type.
func (c Confirmation) StringToSign() string {
	var b strings.Builder
	kv := func(k, v string) { b.WriteString(k + "\n" + v + "\n") }
	kv("Message", ConfirmationText(c.TopicArn))
	kv("MessageId", c.MessageID)
	kv("SubscribeURL", c.SubscribeURL)
	kv("Timestamp", c.Timestamp.UTC().Format(TimestampFormat))
	kv("Token", c.Token)
	kv("TopicArn", c.TopicArn)
	kv("Type", TypeSubscriptionConfirmation)
	return b.String()
}

// JSON renders the confirmation as SNS does.
func (c Confirmation) JSON() []byte {
	var w envWriter
	w.field("Type", TypeSubscriptionConfirmation)
	w.field("MessageId", c.MessageID)
	w.field("Token", c.Token)
	w.field("TopicArn", c.TopicArn)
	w.field("Message", ConfirmationText(c.TopicArn))
	w.field("SubscribeURL", c.SubscribeURL)
	w.field("Timestamp", c.Timestamp.UTC().Format(TimestampFormat))
	if c.SignatureVersion != "" {
		w.field("SignatureVersion", c.SignatureVersion)
		w.field("Signature", c.Signature)
		w.field("SigningCertURL", c.SigningCertURL)
	}
	return w.close()
}

// envWriter writes SNS's pretty JSON: "{\n  \"K\" : v,\n ...\n}".
type envWriter struct {
	b bytes.Buffer
	n int
}

func (w *envWriter) sep() {
	if w.n == 0 {
		w.b.WriteString("{\n")
	} else {
		w.b.WriteString(",\n")
	}
	w.n++
}

func (w *envWriter) field(k, v string) {
	w.sep()
	w.b.WriteString("  ")
	w.b.Write(jsonString(k))
	w.b.WriteString(" : ")
	w.b.Write(jsonString(v))
}

func (w *envWriter) attributes(attrs map[string]broker.AttributeValue) {
	w.sep()
	w.b.WriteString(`  "MessageAttributes" : {`)
	names := make([]string, 0, len(attrs))
	for k := range attrs {
		names = append(names, k)
	}
	sort.Strings(names)
	for i, k := range names {
		if i > 0 {
			w.b.WriteByte(',')
		}
		a := attrs[k]
		v := a.StringValue
		if a.BaseType() == "Binary" {
			v = base64.StdEncoding.EncodeToString(a.BinaryValue)
		}
		w.b.WriteString("\n    ")
		w.b.Write(jsonString(k))
		w.b.WriteString(` : {"Type":`)
		w.b.Write(jsonString(a.DataType))
		w.b.WriteString(`,"Value":`)
		w.b.Write(jsonString(v))
		w.b.WriteByte('}')
	}
	w.b.WriteString("\n  }")
}

func (w *envWriter) close() []byte {
	if w.n == 0 {
		return []byte("{}")
	}
	w.b.WriteString("\n}")
	return w.b.Bytes()
}

// jsonString quotes s as JSON without HTML escaping (SNS leaves <, > and
// & as they are).
func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// UnsubscribeURL is the UnsubscribeURL of subscriptionArn's notifications,
// on the SNS API at base (e.g. "http://127.0.0.1:9701/").
func UnsubscribeURL(base, subscriptionArn string) string {
	return apiURL(base, "Action=Unsubscribe&SubscriptionArn="+subscriptionArn)
}

// SubscribeURL is the SubscribeURL of a SubscriptionConfirmation: visiting
// it confirms the subscription on the SNS API at base.
func SubscribeURL(base, topicArn, token string) string {
	return apiURL(base, "Action=ConfirmSubscription&TopicArn="+topicArn+"&Token="+url.QueryEscape(token))
}

func apiURL(base, query string) string {
	if base == "" {
		base = "/"
	}
	if !strings.Contains(base, "?") {
		if u, err := url.Parse(base); err == nil && u.Path == "" {
			base += "/"
		}
		return base + "?" + query
	}
	return base + "&" + query
}
