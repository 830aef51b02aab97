package awsapi

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"slices"
	"strconv"
)

// snsNamespace is the XML namespace of every SNS response.
const snsNamespace = "http://sns.amazonaws.com/doc/2010-03-31/"

// SNS query responses are
//
//	<XxxResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
//	  <XxxResult>...</XxxResult>
//	  <ResponseMetadata><RequestId>...</RequestId></ResponseMetadata>
//	</XxxResponse>
//
// where the Result element is left out for the actions whose output has
// no members in the SNS model (DeleteTopic, SetTopicAttributes,
// SetSubscriptionAttributes, Unsubscribe), as AWS does; TagResource and
// UntagResource have an empty one. Errors are
//
//	<ErrorResponse xmlns="...">
//	  <Error><Type>Sender</Type><Code>NotFound</Code><Message>...</Message></Error>
//	  <RequestId>...</RequestId>
//	</ErrorResponse>
//
// Maps travel as <entry><key/><value/></entry> lists sorted by key, lists
// as <member> elements inside an always-present container element.

// noResult is the result of an action whose response has no Result
// element.
type noResult struct{}

// emptyResult is the result of an action whose response has an empty
// Result element.
type emptyResult struct{}

type snsTopicArnResult struct {
	TopicArn string
}

type snsSubscriptionArnResult struct {
	SubscriptionArn string
}

type snsEntry struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type snsEntries struct {
	Entries []snsEntry `xml:"entry"`
}

// snsEntriesOf returns m as entries sorted by key.
func snsEntriesOf(m map[string]string) snsEntries {
	out := snsEntries{Entries: make([]snsEntry, 0, len(m))}
	for k, v := range m {
		out.Entries = append(out.Entries, snsEntry{Key: k, Value: v})
	}
	slices.SortFunc(out.Entries, func(a, b snsEntry) int {
		switch {
		case a.Key < b.Key:
			return -1
		case a.Key > b.Key:
			return 1
		}
		return 0
	})
	return out
}

type snsAttributesResult struct {
	Attributes snsEntries
}

type snsTopicMember struct {
	TopicArn string
}

type snsListTopicsResult struct {
	Topics struct {
		Members []snsTopicMember `xml:"member"`
	}
	NextToken string `xml:",omitempty"`
}

type snsSubscriptionMember struct {
	SubscriptionArn string
	Owner           string
	Protocol        string
	Endpoint        string
	TopicArn        string
}

type snsListSubscriptionsResult struct {
	Subscriptions struct {
		Members []snsSubscriptionMember `xml:"member"`
	}
	NextToken string `xml:",omitempty"`
}

type snsTag struct {
	Key   string
	Value string
}

type snsListTagsResult struct {
	Tags struct {
		Members []snsTag `xml:"member"`
	}
}

type snsPublishResult struct {
	MessageId      string
	SequenceNumber string `xml:",omitempty"`
}

type snsBatchSuccess struct {
	Id             string
	MessageId      string
	SequenceNumber string `xml:",omitempty"`
}

type snsBatchFailure struct {
	Id          string
	Code        string
	Message     string
	SenderFault bool
}

type snsPublishBatchResult struct {
	Successful struct {
		Members []snsBatchSuccess `xml:"member"`
	}
	Failed struct {
		Members []snsBatchFailure `xml:"member"`
	}
}

type snsResponseMetadata struct {
	RequestId string
}

type snsErrorBody struct {
	Type    string
	Code    string
	Message string
}

type snsErrorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Error     snsErrorBody
	RequestId string
}

// writeSNSResult writes a successful response to action with result (see
// noResult and emptyResult). action is one of the handler's action names,
// never the client's text.
func writeSNSResult(w http.ResponseWriter, action, requestID string, result any) {
	var b bytes.Buffer
	b.WriteString(`<` + action + `Response xmlns="` + snsNamespace + `">`)
	enc := xml.NewEncoder(&b)
	if _, ok := result.(noResult); !ok {
		start := xml.StartElement{Name: xml.Name{Local: action + "Result"}}
		var err error
		if _, empty := result.(emptyResult); empty {
			err = enc.EncodeElement(struct{}{}, start)
		} else {
			err = enc.EncodeElement(result, start)
		}
		if err == nil {
			err = enc.Flush()
		}
		if err != nil {
			// The result types are fixed structs of strings; this is a bug.
			writeSNSError(w, requestID, &snsError{Code: snsInternalError, Message: "encoding the response: " + err.Error()})
			return
		}
	}
	_ = enc.EncodeElement(snsResponseMetadata{RequestId: requestID}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}})
	_ = enc.Flush()
	b.WriteString(`</` + action + `Response>`)
	writeSNSBody(w, requestID, http.StatusOK, b.Bytes())
}

// writeSNSError writes e as an SNS ErrorResponse with its HTTP status.
func writeSNSError(w http.ResponseWriter, requestID string, e *snsError) {
	typ := "Sender"
	if !e.senderFault() {
		typ = "Receiver"
	}
	body, err := xml.Marshal(snsErrorResponse{Xmlns: snsNamespace, Error: snsErrorBody{Type: typ, Code: e.Code, Message: oneLine(e.Message)}, RequestId: requestID})
	if err != nil {
		body = []byte(`<ErrorResponse xmlns="` + snsNamespace + `"><Error><Type>Receiver</Type><Code>InternalError</Code></Error></ErrorResponse>`)
	}
	writeSNSBody(w, requestID, e.status(), body)
}

func writeSNSBody(w http.ResponseWriter, requestID string, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	h.Set("x-amzn-RequestId", requestID)
	h.Set("Content-Length", strconv.Itoa(len(body)+len(xml.Header)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(body)
}
