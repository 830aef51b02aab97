package trigger

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nimbusmq/nimbus/broker"
)

// The Lambda event shapes. Field names, casing and order follow what
// Lambda sends (and aws-lambda-go's events types decode): lower camel
// case for SQS and Kinesis, upper camel case for SNS.

type sqsEvent struct {
	Records []sqsRecord `json:"Records"`
}

type sqsRecord struct {
	MessageID              string             `json:"messageId"`
	ReceiptHandle          string             `json:"receiptHandle"`
	Body                   string             `json:"body"`
	Attributes             map[string]string  `json:"attributes"`
	MessageAttributes      map[string]sqsAttr `json:"messageAttributes"`
	MD5OfBody              string             `json:"md5OfBody"`
	MD5OfMessageAttributes *string            `json:"md5OfMessageAttributes"`
	EventSource            string             `json:"eventSource"`
	EventSourceARN         string             `json:"eventSourceARN"`
	AWSRegion              string             `json:"awsRegion"`
}

type sqsAttr struct {
	StringValue      *string  `json:"stringValue,omitempty"`
	BinaryValue      []byte   `json:"binaryValue,omitempty"`
	StringListValues []string `json:"stringListValues"`
	BinaryListValues [][]byte `json:"binaryListValues"`
	DataType         string   `json:"dataType"`
}

type kinesisEvent struct {
	Records []kinesisRecord `json:"Records"`
}

type kinesisRecord struct {
	Kinesis           kinesisData `json:"kinesis"`
	EventSource       string      `json:"eventSource"`
	EventVersion      string      `json:"eventVersion"`
	EventID           string      `json:"eventID"`
	EventName         string      `json:"eventName"`
	InvokeIdentityArn string      `json:"invokeIdentityArn"`
	AWSRegion         string      `json:"awsRegion"`
	EventSourceARN    string      `json:"eventSourceARN"`
}

type kinesisData struct {
	KinesisSchemaVersion        string      `json:"kinesisSchemaVersion"`
	PartitionKey                string      `json:"partitionKey"`
	SequenceNumber              string      `json:"sequenceNumber"`
	Data                        []byte      `json:"data"`
	ApproximateArrivalTimestamp json.Number `json:"approximateArrivalTimestamp"`
}

type snsEvent struct {
	Records []snsRecord `json:"Records"`
}

type snsRecord struct {
	EventSource          string    `json:"EventSource"`
	EventVersion         string    `json:"EventVersion"`
	EventSubscriptionArn string    `json:"EventSubscriptionArn"`
	SNS                  snsEntity `json:"Sns"`
}

type snsEntity struct {
	Type              string             `json:"Type"`
	MessageID         string             `json:"MessageId"`
	TopicArn          string             `json:"TopicArn"`
	Subject           *string            `json:"Subject"`
	Message           string             `json:"Message"`
	Timestamp         string             `json:"Timestamp"`
	SignatureVersion  string             `json:"SignatureVersion"`
	Signature         string             `json:"Signature"`
	SigningCertURL    string             `json:"SigningCertUrl"`
	UnsubscribeURL    string             `json:"UnsubscribeUrl"`
	MessageAttributes map[string]snsAttr `json:"MessageAttributes"`
}

type snsAttr struct {
	Type  string `json:"Type"`
	Value string `json:"Value"`
}

// InvokeIdentityArn is the invokeIdentityArn of Kinesis records of the
// default tenant's triggers: Lambda puts the mapping's execution role
// there; a trigger has none, so a fixed role of the trigger's account
// stands in (Batch.invokeIdentityArn).
var InvokeIdentityArn = fmt.Sprintf("arn:aws:iam::%s:role/nimbus-trigger", broker.Account)

// invokeIdentityArn is InvokeIdentityArn in the batch's account.
func (b *Batch) invokeIdentityArn() string {
	if b.Account == "" || b.Account == broker.Account {
		return InvokeIdentityArn
	}
	return fmt.Sprintf("arn:aws:iam::%s:role/nimbus-trigger", b.Account)
}

// snsTimeLayout is SNS's Timestamp: ISO 8601, UTC, milliseconds.
const snsTimeLayout = "2006-01-02T15:04:05.000Z"

func lambdaEvent(b *Batch) ([]byte, error) {
	switch b.Source {
	case SourceQueue:
		return marshal(sqsEventOf(b))
	case SourceStream:
		return marshal(kinesisEventOf(b))
	default:
		return marshal(snsEventOf(b))
	}
}

func sqsEventOf(b *Batch) sqsEvent {
	ev := sqsEvent{Records: make([]sqsRecord, len(b.Items))}
	for i := range b.Items {
		it := &b.Items[i]
		attrs := make(map[string]string, len(it.SystemAttributes)+1)
		for k, v := range it.SystemAttributes {
			attrs[k] = v
		}
		// Lambda's SQS record knows AWSTraceHeader only.
		delete(attrs, broker.SysAttrTraceparent)
		if g := it.MessageGroupID; g != "" && attrs["MessageGroupId"] == "" {
			attrs["MessageGroupId"] = g
		}
		mattrs := make(map[string]sqsAttr, len(it.Attributes))
		for name, v := range it.Attributes {
			a := sqsAttr{StringListValues: []string{}, BinaryListValues: [][]byte{}, DataType: v.DataType}
			if v.BaseType() == "Binary" {
				a.BinaryValue = v.BinaryValue
				if a.BinaryValue == nil {
					a.BinaryValue = []byte{}
				}
			} else {
				s := v.StringValue
				a.StringValue = &s
			}
			mattrs[name] = a
		}
		var md5Attrs *string
		if len(it.Attributes) > 0 {
			s := broker.MD5OfAttributes(it.Attributes)
			md5Attrs = &s
		}
		ev.Records[i] = sqsRecord{
			MessageID:              it.ID,
			ReceiptHandle:          it.ReceiptHandle,
			Body:                   string(it.Body),
			Attributes:             attrs,
			MessageAttributes:      mattrs,
			MD5OfBody:              broker.MD5OfBody(string(it.Body)),
			MD5OfMessageAttributes: md5Attrs,
			EventSource:            "aws:sqs",
			EventSourceARN:         b.SourceArn,
			AWSRegion:              b.region(),
		}
	}
	return ev
}

func kinesisEventOf(b *Batch) kinesisEvent {
	ev := kinesisEvent{Records: make([]kinesisRecord, len(b.Items))}
	for i := range b.Items {
		it := &b.Items[i]
		data := it.Body
		if data == nil {
			data = []byte{}
		}
		ev.Records[i] = kinesisRecord{
			Kinesis: kinesisData{
				KinesisSchemaVersion:        "1.0",
				PartitionKey:                it.PartitionKey,
				SequenceNumber:              it.ID,
				Data:                        data,
				ApproximateArrivalTimestamp: epochSeconds(it.ArrivalTime),
			},
			EventSource:       "aws:kinesis",
			EventVersion:      "1.0",
			EventID:           it.ShardID + ":" + it.ID,
			EventName:         "aws:kinesis:record",
			InvokeIdentityArn: b.invokeIdentityArn(),
			AWSRegion:         b.region(),
			EventSourceARN:    b.SourceArn,
		}
	}
	return ev
}

// epochSeconds renders t as Kinesis's approximateArrivalTimestamp: epoch
// seconds with milliseconds as the fraction (1545084650.987); 0 for a
// zero or pre-epoch time.
func epochSeconds(t time.Time) json.Number {
	ms := t.UnixMilli()
	if t.IsZero() || ms < 0 {
		return "0"
	}
	return json.Number(fmt.Sprintf("%d.%03d", ms/1000, ms%1000))
}

func snsEventOf(b *Batch) snsEvent {
	ev := snsEvent{Records: make([]snsRecord, len(b.Items))}
	for i := range b.Items {
		it := &b.Items[i]
		attrs := make(map[string]snsAttr, len(it.Attributes))
		for name, v := range it.Attributes {
			attrs[name] = snsAttr{Type: v.DataType, Value: attrString(v)}
		}
		var subject *string
		if it.Subject != "" {
			s := it.Subject
			subject = &s
		}
		ev.Records[i] = snsRecord{
			EventSource:          "aws:sns",
			EventVersion:         "1.0",
			EventSubscriptionArn: b.SubscriptionArn,
			SNS: snsEntity{
				Type:              "Notification",
				MessageID:         it.ID,
				TopicArn:          b.SourceArn,
				Subject:           subject,
				Message:           string(it.Body),
				Timestamp:         it.Timestamp.UTC().Format(snsTimeLayout),
				SignatureVersion:  "1",
				Signature:         it.Signature,
				SigningCertURL:    b.SigningCertURL,
				UnsubscribeURL:    b.UnsubscribeURL,
				MessageAttributes: attrs,
			},
		}
	}
	return ev
}

func b64(p []byte) string { return base64.StdEncoding.EncodeToString(p) }
