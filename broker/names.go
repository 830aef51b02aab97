package broker

import (
	"fmt"
	"strings"
)

// Region and Account name the fixed region and account that ARNs and queue
// URLs carry until tenants exist.
const (
	Region  = "us-east-1"
	Account = "000000000000"
)

// ValidateQueueName checks an SQS queue name: 1-80 characters of letters,
// digits, '-' and '_' (a FIFO name also ends in ".fifo", which counts).
func ValidateQueueName(name string) error {
	name = untenanted(name)
	base := strings.TrimSuffix(name, ".fifo")
	if name == "" || len(name) > MaxQueueNameLen || base == "" {
		return FieldError(CodeInvalidArgument, "QueueName", "queue name must be 1-%d characters", MaxQueueNameLen)
	}
	for _, r := range base {
		if !isNameRune(r) {
			return FieldError(CodeInvalidArgument, "QueueName", "queue name %q may contain only letters, digits, '-' and '_'", name)
		}
	}
	return nil
}

// ValidateBatchEntryID checks a batch entry id: 1-80 letters, digits, '-', '_'.
func ValidateBatchEntryID(field, id string) error {
	if id == "" || len(id) > MaxBatchEntryIDLen {
		return FieldError(CodeInvalidEntryID, field, "batch entry id must be 1-%d characters", MaxBatchEntryIDLen)
	}
	for _, r := range id {
		if !isNameRune(r) {
			return FieldError(CodeInvalidEntryID, field, "batch entry id %q may contain only letters, digits, '-' and '_'", id)
		}
	}
	return nil
}

// untenanted returns an internal resource name without its tenant
// prefix ("acme~orders" -> "orders"; see broker/auth): the API edges
// refuse '~' in user-visible names and add the prefix, so the name
// checks here apply to the user's part. A name without a well-formed
// prefix is returned as is (and fails the check on its '~').
func untenanted(name string) string {
	t, rest, ok := strings.Cut(name, "~")
	if !ok || t == "" || len(t) > 32 || t[0] < 'a' || t[0] > 'z' {
		return name
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return name
		}
	}
	return rest
}

func isNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

// QueueArn returns the ARN of the named queue.
func QueueArn(name string) string {
	return fmt.Sprintf("arn:aws:sqs:%s:%s:%s", Region, Account, name)
}

// QueueNameFromArn returns the queue name of an SQS ARN.
func QueueNameFromArn(arn string) (string, error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sqs" || parts[5] == "" {
		return "", Errorf(CodeInvalidArgument, "%q is not an SQS queue ARN", arn)
	}
	return parts[5], nil
}

// ValidateFifoID checks a MessageGroupId, MessageDeduplicationId or
// ReceiveRequestAttemptId: 1-128 characters, each a letter, digit or
// ASCII punctuation mark.
func ValidateFifoID(field, id string) error {
	if id == "" || len(id) > MaxFifoIDLen {
		return FieldError(CodeInvalidArgument, field, "must be 1-%d characters, got %d", MaxFifoIDLen, len(id))
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < '!' || c > '~' {
			return FieldError(CodeInvalidArgument, field, "may contain only letters, digits and punctuation; byte %d is %q", i, c)
		}
	}
	return nil
}

// ValidateStreamName checks a Kinesis stream name: 1-MaxStreamNameLen
// characters of letters, digits, '_', '.' and '-'.
func ValidateStreamName(name string) error {
	name = untenanted(name)
	if name == "" || len(name) > MaxStreamNameLen {
		return FieldError(CodeInvalidArgument, "StreamName", "stream name must be 1-%d characters", MaxStreamNameLen)
	}
	for _, r := range name {
		if !isNameRune(r) && r != '.' {
			return FieldError(CodeInvalidArgument, "StreamName", "stream name %q may contain only letters, digits, '_', '.' and '-'", name)
		}
	}
	return nil
}

// StreamArn returns the ARN of the named stream.
func StreamArn(name string) string {
	return fmt.Sprintf("arn:aws:kinesis:%s:%s:stream/%s", Region, Account, name)
}

// ValidateTopicName checks an SNS topic name: 1-MaxTopicNameLen
// characters of letters, digits, '-' and '_'; a FIFO topic's name ends in
// ".fifo", which counts.
func ValidateTopicName(name string) error {
	name = untenanted(name)
	base := strings.TrimSuffix(name, ".fifo")
	if name == "" || len(name) > MaxTopicNameLen || base == "" {
		return FieldError(CodeInvalidArgument, "Name", "Invalid parameter: Topic Name: topic names must be 1-%d characters long", MaxTopicNameLen)
	}
	for _, r := range base {
		if !isNameRune(r) {
			return FieldError(CodeInvalidArgument, "Name", "Invalid parameter: Topic Name: %q may contain only ASCII letters, digits, '-' and '_' (and end in .fifo for a FIFO topic)", name)
		}
	}
	return nil
}

// TopicArn returns the ARN of the named topic.
func TopicArn(name string) string {
	return fmt.Sprintf("arn:aws:sns:%s:%s:%s", Region, Account, name)
}

// TopicNameFromArn returns the topic name of an SNS topic ARN.
func TopicNameFromArn(arn string) (string, error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[5] == "" {
		return "", Errorf(CodeInvalidArgument, "Invalid parameter: TopicArn: %q is not an SNS topic ARN", arn)
	}
	return parts[5], nil
}

// TopicName accepts a topic ARN or a bare topic name and returns the name.
func TopicName(arnOrName string) (string, error) {
	if strings.HasPrefix(arnOrName, "arn:") {
		return TopicNameFromArn(arnOrName)
	}
	if arnOrName == "" {
		return "", FieldError(CodeInvalidArgument, "TopicArn", "Invalid parameter: TopicArn: a topic ARN is required")
	}
	return arnOrName, nil
}

// SubscriptionArn returns the ARN of subscription id of the named topic.
func SubscriptionArn(topic, id string) string { return TopicArn(topic) + ":" + id }

// ParseSubscriptionArn splits a subscription ARN into its topic name and
// subscription id.
func ParseSubscriptionArn(arn string) (topic, id string, err error) {
	parts := strings.Split(arn, ":")
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "sns" || parts[5] == "" || parts[6] == "" {
		return "", "", FieldError(CodeInvalidArgument, "SubscriptionArn", "Invalid parameter: SubscriptionArn: %q is not a subscription ARN", arn)
	}
	return parts[5], parts[6], nil
}

// StreamNameFromArn returns the stream name of a Kinesis stream ARN.
func StreamNameFromArn(arn string) (string, error) {
	name, ok := strings.CutPrefix(arn, StreamArn(""))
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", Errorf(CodeInvalidArgument, "%q is not a Kinesis stream ARN", arn)
	}
	return name, nil
}
