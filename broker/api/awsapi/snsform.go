package awsapi

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"

	"github.com/nimbusmq/nimbus/broker"
	nimbusv1 "github.com/nimbusmq/nimbus/proto/nimbus/v1"
)

// snsForm is the query form of one SNS request (parameters in any order;
// a repeated parameter counts by its first value).
//
// Structured parameters are flattened as the AWS query protocol does,
// with 1-based indexes that need not be contiguous (entries are taken in
// index order):
//
//	maps:      Attributes.entry.N.key / Attributes.entry.N.value
//	tags:      Tags.member.N.Key / Tags.member.N.Value
//	lists:     TagKeys.member.N
//	message attributes:
//	           MessageAttributes.entry.N.Name
//	           MessageAttributes.entry.N.Value.DataType
//	           MessageAttributes.entry.N.Value.StringValue
//	           MessageAttributes.entry.N.Value.BinaryValue (base64)
//	batch entries:
//	           PublishBatchRequestEntries.member.N.Id (.Message, .Subject,
//	           .MessageStructure, .MessageGroupId, .MessageDeduplicationId,
//	           .MessageAttributes.entry.M.*)
//
// An index must be a positive decimal integer without leading zeros (so
// that two spellings cannot name one entry); an entry without its key or
// name, or a key given twice, is an InvalidParameter error. Parameters
// the action does not know are ignored, as AWS does.
type snsForm map[string][]string

// get returns the first value of key, or "".
func (f snsForm) get(key string) string {
	if v := f[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// has reports whether key is present (even with an empty value).
func (f snsForm) has(key string) bool { return len(f[key]) > 0 }

// boolean parses key as an SNS boolean: "true" or "false" in any case; a
// missing or empty parameter is false.
func (f snsForm) boolean(key string) (bool, error) {
	switch v := f.get(key); strings.ToLower(v) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, snsInvalid("Invalid parameter: %s: %q is not true or false", key, v)
	}
}

// indexes returns the distinct indexes N of the parameters named
// prefix.N or prefix.N.anything, ascending.
func (f snsForm) indexes(prefix string) ([]int, error) {
	var out []int
	seen := map[int]bool{}
	for key := range f {
		rest, ok := strings.CutPrefix(key, prefix+".")
		if !ok {
			continue
		}
		idx, _, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(idx)
		if err != nil || n < 1 || strconv.Itoa(n) != idx {
			return nil, snsInvalid("Invalid parameter: %s: the index of %s.N must be a positive integer, not %q", key, prefix, idx)
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// stringMap decodes the map prefix.N.<keyName> / prefix.N.<valueName>
// (nil when absent).
func (f snsForm) stringMap(prefix, keyName, valueName string) (map[string]string, error) {
	idx, err := f.indexes(prefix)
	if err != nil || len(idx) == 0 {
		return nil, err
	}
	out := make(map[string]string, len(idx))
	for _, n := range idx {
		p := prefix + "." + strconv.Itoa(n) + "."
		if !f.has(p + keyName) {
			return nil, snsInvalid("Invalid parameter: %s%s is required", p, keyName)
		}
		k := f.get(p + keyName)
		if _, dup := out[k]; dup {
			return nil, snsInvalid("Invalid parameter: %s%s: key %q is given twice", p, keyName, k)
		}
		out[k] = f.get(p + valueName)
	}
	return out, nil
}

// attributes decodes the attribute map of CreateTopic and Subscribe
// (Attributes.entry.N.key / .value).
func (f snsForm) attributes() (map[string]string, error) {
	return f.stringMap("Attributes.entry", "key", "value")
}

// tags decodes Tags.member.N.Key / .Value.
func (f snsForm) tags() (map[string]string, error) {
	return f.stringMap("Tags.member", "Key", "Value")
}

// list decodes the string list prefix.N (nil when absent).
func (f snsForm) list(prefix string) ([]string, error) {
	idx, err := f.indexes(prefix)
	if err != nil || len(idx) == 0 {
		return nil, err
	}
	out := make([]string, 0, len(idx))
	for _, n := range idx {
		key := prefix + "." + strconv.Itoa(n)
		if !f.has(key) {
			return nil, snsInvalid("Invalid parameter: %s is required", key)
		}
		out = append(out, f.get(key))
	}
	return out, nil
}

// messageAttributes decodes the message attributes under prefix
// ("MessageAttributes" or a batch entry's "....MessageAttributes"). The
// data types and values are checked by the topic service. Its errors are
// ParameterValueInvalid, as SNS answers bad message attributes.
func (f snsForm) messageAttributes(prefix string) (map[string]*nimbusv1.MessageAttributeValue, error) {
	prefix += ".entry"
	idx, err := f.indexes(prefix)
	if err != nil || len(idx) == 0 {
		return nil, err
	}
	out := make(map[string]*nimbusv1.MessageAttributeValue, len(idx))
	for _, n := range idx {
		p := prefix + "." + strconv.Itoa(n) + "."
		if !f.has(p + "Name") {
			return nil, snsInvalidAttribute("Invalid parameter: %sName is required", p)
		}
		name := f.get(p + "Name")
		if _, dup := out[name]; dup {
			return nil, snsInvalidAttribute("Invalid parameter: %sName: message attribute %q is given twice", p, name)
		}
		v := &nimbusv1.MessageAttributeValue{DataType: f.get(p + "Value.DataType"), StringValue: f.get(p + "Value.StringValue")}
		if f.has(p + "Value.BinaryValue") {
			b, err := base64.StdEncoding.DecodeString(f.get(p + "Value.BinaryValue"))
			if err != nil {
				return nil, snsInvalidAttribute("Invalid parameter: %sValue.BinaryValue: not base64: %v", p, err)
			}
			v.BinaryValue = b
		}
		out[name] = v
	}
	return out, nil
}

// snsInvalidAttribute returns a ParameterValueInvalid error.
func snsInvalidAttribute(format string, args ...any) *snsError {
	e := snsInvalid(format, args...)
	e.Code = snsInvalidValue
	return e
}

// snsBatchEntry is one PublishBatchRequestEntries member: the gRPC entry
// and its MessageStructure, resolved by the action.
type snsBatchEntry struct {
	entry     *nimbusv1.PublishBatchRequestEntry
	structure string
}

// batchEntries decodes PublishBatchRequestEntries.member.N.*. The batch's
// shape is checked before the entries are decoded (so a request naming a
// million entries costs one pass over its keys): 1 to
// broker.MaxBatchEntries entries, each with a valid Id, the Ids distinct.
func (f snsForm) batchEntries() ([]snsBatchEntry, error) {
	const prefix = "PublishBatchRequestEntries.member"
	idx, err := f.indexes(prefix)
	if err != nil {
		return nil, err
	}
	switch {
	case len(idx) == 0:
		return nil, &snsError{Code: snsEmptyBatch, Message: "The batch request doesn't contain any entries."}
	case len(idx) > broker.MaxBatchEntries:
		return nil, &snsError{Code: snsTooManyEntries, Message: "The batch request contains more entries than permissible (" + strconv.Itoa(len(idx)) + " > " + strconv.Itoa(broker.MaxBatchEntries) + ")."}
	}
	out := make([]snsBatchEntry, 0, len(idx))
	seen := make(map[string]bool, len(idx))
	for _, n := range idx {
		p := prefix + "." + strconv.Itoa(n) + "."
		id := f.get(p + "Id")
		if err := broker.ValidateBatchEntryID(p+"Id", id); err != nil {
			return nil, &snsError{Code: snsInvalidBatchEntryID, Message: oneLine(err.Error())}
		}
		if seen[id] {
			return nil, &snsError{Code: snsBatchIDsNotDistinct, Message: "Two or more batch entries in the request have the same Id: " + strconv.Quote(id) + "."}
		}
		seen[id] = true
		attrs, err := f.messageAttributes(p + "MessageAttributes")
		if err != nil {
			return nil, err
		}
		out = append(out, snsBatchEntry{
			entry: &nimbusv1.PublishBatchRequestEntry{Id: id, Message: f.get(p + "Message"), Subject: f.get(p + "Subject"),
				MessageAttributes: attrs, MessageGroupId: f.get(p + "MessageGroupId"), MessageDeduplicationId: f.get(p + "MessageDeduplicationId")},
			structure: f.get(p + "MessageStructure"),
		})
	}
	return out, nil
}
