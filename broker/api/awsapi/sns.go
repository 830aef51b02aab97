package awsapi

import (
	"context"
	"net/http"
	"strconv"
)

// snsAction serves one SNS action: it decodes the form, calls the topic
// service and returns the Result element's value (noResult, emptyResult
// or one of the snsxml.go result types) or an error, which serveSNS
// converts with snsErrorOf. An action changes nothing when it fails on
// the form: every parameter is decoded before the first gRPC call.
type snsAction func(h *Handler, ctx context.Context, f snsForm) (any, error)

// snsActions are the SNS actions Nimbus serves: every topic and
// subscription action of the SNS API (the TopicService's calls).
var snsActions = map[string]snsAction{
	"CreateTopic":               (*Handler).snsCreateTopic,
	"DeleteTopic":               (*Handler).snsDeleteTopic,
	"ListTopics":                (*Handler).snsListTopics,
	"GetTopicAttributes":        (*Handler).snsGetTopicAttributes,
	"SetTopicAttributes":        (*Handler).snsSetTopicAttributes,
	"TagResource":               (*Handler).snsTagResource,
	"UntagResource":             (*Handler).snsUntagResource,
	"ListTagsForResource":       (*Handler).snsListTagsForResource,
	"Subscribe":                 (*Handler).snsSubscribe,
	"ConfirmSubscription":       (*Handler).snsConfirmSubscription,
	"Unsubscribe":               (*Handler).snsUnsubscribe,
	"ListSubscriptions":         (*Handler).snsListSubscriptions,
	"ListSubscriptionsByTopic":  (*Handler).snsListSubscriptionsByTopic,
	"GetSubscriptionAttributes": (*Handler).snsGetSubscriptionAttributes,
	"SetSubscriptionAttributes": (*Handler).snsSetSubscriptionAttributes,
	"Publish":                   (*Handler).snsPublish,
	"PublishBatch":              (*Handler).snsPublishBatch,
}

// snsUnsupported are the SNS API's other actions, with the feature each
// belongs to: Nimbus has no SMS, no mobile push, no data protection
// policies and no topic access policies beyond the Policy attribute. They
// fail with InvalidAction (HTTP 400) naming the feature, so that a client
// can tell them from a typo.
var snsUnsupported = map[string]string{
	"AddPermission":                      "topic access policies (set the Policy attribute with SetTopicAttributes instead)",
	"RemovePermission":                   "topic access policies (set the Policy attribute with SetTopicAttributes instead)",
	"CheckIfPhoneNumberIsOptedOut":       "SMS",
	"CreateSMSSandboxPhoneNumber":        "SMS",
	"DeleteSMSSandboxPhoneNumber":        "SMS",
	"GetSMSAttributes":                   "SMS",
	"GetSMSSandboxAccountStatus":         "SMS",
	"ListOriginationNumbers":             "SMS",
	"ListPhoneNumbersOptedOut":           "SMS",
	"ListSMSSandboxPhoneNumbers":         "SMS",
	"OptInPhoneNumber":                   "SMS",
	"SetSMSAttributes":                   "SMS",
	"VerifySMSSandboxPhoneNumber":        "SMS",
	"CreatePlatformApplication":          "mobile push (platform applications)",
	"CreatePlatformEndpoint":             "mobile push (platform applications)",
	"DeleteEndpoint":                     "mobile push (platform applications)",
	"DeletePlatformApplication":          "mobile push (platform applications)",
	"GetEndpointAttributes":              "mobile push (platform applications)",
	"GetPlatformApplicationAttributes":   "mobile push (platform applications)",
	"ListEndpointsByPlatformApplication": "mobile push (platform applications)",
	"ListPlatformApplications":           "mobile push (platform applications)",
	"SetEndpointAttributes":              "mobile push (platform applications)",
	"SetPlatformApplicationAttributes":   "mobile push (platform applications)",
	"GetDataProtectionPolicy":            "data protection policies",
	"PutDataProtectionPolicy":            "data protection policies",
}

// serveSNS serves one SNS action over the query protocol: the form in,
// an XML response (or ErrorResponse) in the 2010-03-31 namespace out.
func (h *Handler) serveSNS(w http.ResponseWriter, r *http.Request, form map[string][]string) {
	requestID := requestIDOf(r)
	f := snsForm(form)
	name := f.get("Action")
	action, ok := snsActions[name]
	if !ok {
		writeSNSError(w, requestID, snsUnknownAction(name))
		return
	}
	result, err := action(h, r.Context(), f)
	if err != nil {
		e := snsErrorOf(err, name == "PublishBatch")
		if e.status() >= 500 {
			h.cfg.Logger.Warn("sns: action failed", "action", name, "code", e.Code, "err", e.Message)
		}
		writeSNSError(w, requestID, e)
		return
	}
	writeSNSResult(w, name, requestID, result)
}

// snsUnknownAction is the error of an Action Nimbus does not serve.
func snsUnknownAction(name string) *snsError {
	switch feature, known := snsUnsupported[name]; {
	case name == "":
		return &snsError{Code: snsMissingAction, Message: "The request is missing an Action parameter."}
	case known:
		return &snsError{Code: snsInvalidAction, Message: "The action " + name + " is not supported by Nimbus: it has no " + feature + "."}
	default:
		return &snsError{Code: snsInvalidAction, Message: "The action " + strconv.Quote(name) + " is not valid for this web service."}
	}
}
