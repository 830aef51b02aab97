package awsapi

// SQS request and response shapes, shared by both protocols.
//
// The json tag is the member name in AWS JSON 1.0 (encoding/json matches
// request members case-insensitively, as the SQS model spells a few in
// lower case: CreateQueue's "tags", ListDeadLetterSourceQueues' "queueUrls").
// The aws tag gives the query protocol and XML names where they differ:
// a flattened list member's element name ("QueueUrl" for QueueUrls), and
// for a flattened map the entry name, key name and value name
// ("Attribute,Name,Value"). Request lists and maps are "Name.N..." form
// keys numbered from 1 (sqsquery.go).

// sqsAttrValue is a MessageAttributeValue (and MessageSystemAttributeValue).
type sqsAttrValue struct {
	StringValue      *string  `json:"StringValue,omitempty"`
	BinaryValue      []byte   `json:"BinaryValue,omitempty"`
	StringListValues []string `json:"StringListValues,omitempty" aws:"StringListValue"`
	BinaryListValues [][]byte `json:"BinaryListValues,omitempty" aws:"BinaryListValue"`
	DataType         string   `json:"DataType"`
}

type sqsCreateQueueInput struct {
	QueueName  string            `json:"QueueName"`
	Attributes map[string]string `json:"Attributes" aws:"Attribute,Name,Value"`
	Tags       map[string]string `json:"tags" aws:"Tag,Key,Value"`
}

// sqsQueueURLOutput answers CreateQueue and GetQueueUrl.
type sqsQueueURLOutput struct {
	QueueUrl string `json:"QueueUrl"`
}

// sqsQueueInput is the input of the actions that only name a queue
// (DeleteQueue, PurgeQueue, ListQueueTags).
type sqsQueueInput struct {
	QueueUrl string `json:"QueueUrl"`
}

type sqsListQueuesInput struct {
	QueueNamePrefix string `json:"QueueNamePrefix"`
	NextToken       string `json:"NextToken"`
	MaxResults      *int32 `json:"MaxResults"`
}

type sqsListQueuesOutput struct {
	QueueUrls []string `json:"QueueUrls,omitempty" aws:"QueueUrl"`
	NextToken string   `json:"NextToken,omitempty"`
}

type sqsGetQueueURLInput struct {
	QueueName              string `json:"QueueName"`
	QueueOwnerAWSAccountId string `json:"QueueOwnerAWSAccountId"`
}

type sqsGetQueueAttributesInput struct {
	QueueUrl       string   `json:"QueueUrl"`
	AttributeNames []string `json:"AttributeNames" aws:"AttributeName"`
}

type sqsAttributesOutput struct {
	Attributes map[string]string `json:"Attributes,omitempty" aws:"Attribute,Name,Value"`
}

type sqsSetQueueAttributesInput struct {
	QueueUrl   string            `json:"QueueUrl"`
	Attributes map[string]string `json:"Attributes" aws:"Attribute,Name,Value"`
}

type sqsTagQueueInput struct {
	QueueUrl string            `json:"QueueUrl"`
	Tags     map[string]string `json:"Tags" aws:"Tag,Key,Value"`
}

type sqsUntagQueueInput struct {
	QueueUrl string   `json:"QueueUrl"`
	TagKeys  []string `json:"TagKeys" aws:"TagKey"`
}

type sqsTagsOutput struct {
	Tags map[string]string `json:"Tags,omitempty" aws:"Tag,Key,Value"`
}

type sqsSendMessageInput struct {
	QueueUrl                string                  `json:"QueueUrl"`
	MessageBody             *string                 `json:"MessageBody"`
	DelaySeconds            *int32                  `json:"DelaySeconds"`
	MessageAttributes       map[string]sqsAttrValue `json:"MessageAttributes" aws:"MessageAttribute,Name,Value"`
	MessageSystemAttributes map[string]sqsAttrValue `json:"MessageSystemAttributes" aws:"MessageSystemAttribute,Name,Value"`
	MessageDeduplicationId  string                  `json:"MessageDeduplicationId"`
	MessageGroupId          string                  `json:"MessageGroupId"`
}

type sqsSendMessageOutput struct {
	MD5OfMessageBody             string `json:"MD5OfMessageBody"`
	MD5OfMessageAttributes       string `json:"MD5OfMessageAttributes,omitempty"`
	MD5OfMessageSystemAttributes string `json:"MD5OfMessageSystemAttributes,omitempty"`
	MessageId                    string `json:"MessageId"`
	SequenceNumber               string `json:"SequenceNumber,omitempty"`
}

type sqsSendBatchEntry struct {
	Id                      string                  `json:"Id"`
	MessageBody             *string                 `json:"MessageBody"`
	DelaySeconds            *int32                  `json:"DelaySeconds"`
	MessageAttributes       map[string]sqsAttrValue `json:"MessageAttributes" aws:"MessageAttribute,Name,Value"`
	MessageSystemAttributes map[string]sqsAttrValue `json:"MessageSystemAttributes" aws:"MessageSystemAttribute,Name,Value"`
	MessageDeduplicationId  string                  `json:"MessageDeduplicationId"`
	MessageGroupId          string                  `json:"MessageGroupId"`
}

type sqsSendMessageBatchInput struct {
	QueueUrl string              `json:"QueueUrl"`
	Entries  []sqsSendBatchEntry `json:"Entries" aws:"SendMessageBatchRequestEntry"`
}

type sqsSendBatchResult struct {
	Id                           string `json:"Id"`
	MessageId                    string `json:"MessageId"`
	MD5OfMessageBody             string `json:"MD5OfMessageBody"`
	MD5OfMessageAttributes       string `json:"MD5OfMessageAttributes,omitempty"`
	MD5OfMessageSystemAttributes string `json:"MD5OfMessageSystemAttributes,omitempty"`
	SequenceNumber               string `json:"SequenceNumber,omitempty"`
}

// sqsBatchFailure is a BatchResultErrorEntry.
type sqsBatchFailure struct {
	Id          string `json:"Id"`
	SenderFault bool   `json:"SenderFault"`
	Code        string `json:"Code"`
	Message     string `json:"Message,omitempty"`
}

type sqsSendMessageBatchOutput struct {
	Successful []sqsSendBatchResult `json:"Successful" aws:"SendMessageBatchResultEntry"`
	Failed     []sqsBatchFailure    `json:"Failed" aws:"BatchResultErrorEntry"`
}

type sqsReceiveMessageInput struct {
	QueueUrl                    string   `json:"QueueUrl"`
	AttributeNames              []string `json:"AttributeNames" aws:"AttributeName"`
	MessageSystemAttributeNames []string `json:"MessageSystemAttributeNames" aws:"MessageSystemAttributeName"`
	MessageAttributeNames       []string `json:"MessageAttributeNames" aws:"MessageAttributeName"`
	MaxNumberOfMessages         *int32   `json:"MaxNumberOfMessages"`
	VisibilityTimeout           *int32   `json:"VisibilityTimeout"`
	WaitTimeSeconds             *int32   `json:"WaitTimeSeconds"`
	ReceiveRequestAttemptId     string   `json:"ReceiveRequestAttemptId"`
}

type sqsMessage struct {
	MessageId              string                  `json:"MessageId"`
	ReceiptHandle          string                  `json:"ReceiptHandle"`
	MD5OfBody              string                  `json:"MD5OfBody"`
	Body                   string                  `json:"Body"`
	Attributes             map[string]string       `json:"Attributes,omitempty" aws:"Attribute,Name,Value"`
	MD5OfMessageAttributes string                  `json:"MD5OfMessageAttributes,omitempty"`
	MessageAttributes      map[string]sqsAttrValue `json:"MessageAttributes,omitempty" aws:"MessageAttribute,Name,Value"`
}

type sqsReceiveMessageOutput struct {
	Messages []sqsMessage `json:"Messages,omitempty" aws:"Message"`
}

type sqsDeleteMessageInput struct {
	QueueUrl      string `json:"QueueUrl"`
	ReceiptHandle string `json:"ReceiptHandle"`
}

type sqsReceiptEntry struct {
	Id                string `json:"Id"`
	ReceiptHandle     string `json:"ReceiptHandle"`
	VisibilityTimeout *int32 `json:"VisibilityTimeout,omitempty"`
}

type sqsDeleteMessageBatchInput struct {
	QueueUrl string            `json:"QueueUrl"`
	Entries  []sqsReceiptEntry `json:"Entries" aws:"DeleteMessageBatchRequestEntry"`
}

// sqsBatchID is a DeleteMessageBatchResultEntry or a
// ChangeMessageVisibilityBatchResultEntry.
type sqsBatchID struct {
	Id string `json:"Id"`
}

type sqsDeleteMessageBatchOutput struct {
	Successful []sqsBatchID      `json:"Successful" aws:"DeleteMessageBatchResultEntry"`
	Failed     []sqsBatchFailure `json:"Failed" aws:"BatchResultErrorEntry"`
}

type sqsChangeVisibilityInput struct {
	QueueUrl          string `json:"QueueUrl"`
	ReceiptHandle     string `json:"ReceiptHandle"`
	VisibilityTimeout *int32 `json:"VisibilityTimeout"`
}

type sqsChangeVisibilityBatchInput struct {
	QueueUrl string            `json:"QueueUrl"`
	Entries  []sqsReceiptEntry `json:"Entries" aws:"ChangeMessageVisibilityBatchRequestEntry"`
}

type sqsChangeVisibilityBatchOutput struct {
	Successful []sqsBatchID      `json:"Successful" aws:"ChangeMessageVisibilityBatchResultEntry"`
	Failed     []sqsBatchFailure `json:"Failed" aws:"BatchResultErrorEntry"`
}

type sqsListDeadLetterSourceQueuesInput struct {
	QueueUrl   string `json:"QueueUrl"`
	NextToken  string `json:"NextToken"`
	MaxResults *int32 `json:"MaxResults"`
}

type sqsListDeadLetterSourceQueuesOutput struct {
	QueueUrls []string `json:"queueUrls" aws:"QueueUrl"`
	NextToken string   `json:"NextToken,omitempty"`
}

type sqsStartMessageMoveTaskInput struct {
	SourceArn                    string `json:"SourceArn"`
	DestinationArn               string `json:"DestinationArn"`
	MaxNumberOfMessagesPerSecond *int32 `json:"MaxNumberOfMessagesPerSecond"`
}

type sqsTaskHandleOutput struct {
	TaskHandle string `json:"TaskHandle"`
}

type sqsListMessageMoveTasksInput struct {
	SourceArn  string `json:"SourceArn"`
	MaxResults *int32 `json:"MaxResults"`
}

type sqsMoveTask struct {
	TaskHandle                        string `json:"TaskHandle,omitempty"`
	Status                            string `json:"Status"`
	SourceArn                         string `json:"SourceArn"`
	DestinationArn                    string `json:"DestinationArn,omitempty"`
	MaxNumberOfMessagesPerSecond      *int32 `json:"MaxNumberOfMessagesPerSecond,omitempty"`
	ApproximateNumberOfMessagesMoved  int64  `json:"ApproximateNumberOfMessagesMoved"`
	ApproximateNumberOfMessagesToMove *int64 `json:"ApproximateNumberOfMessagesToMove,omitempty"`
	FailureReason                     string `json:"FailureReason,omitempty"`
	StartedTimestamp                  int64  `json:"StartedTimestamp"`
}

type sqsListMessageMoveTasksOutput struct {
	Results []sqsMoveTask `json:"Results,omitempty" aws:"ListMessageMoveTasksResultEntry"`
}

type sqsCancelMessageMoveTaskInput struct {
	TaskHandle string `json:"TaskHandle"`
}

type sqsCancelMessageMoveTaskOutput struct {
	ApproximateNumberOfMessagesMoved int64 `json:"ApproximateNumberOfMessagesMoved"`
}
