package node

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func sqsClient(n *Node) *sqs.Client {
	return sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://" + n.HTTPAddr()),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
}

// TestAWSAPIOnEveryNode: the SQS API of any node of a cluster serves any
// queue (an AWS request is routed like a gRPC one): a queue created
// through one node is written through a second and read through a third,
// and a missing queue is the SDK's typed error on every node.
func TestAWSAPIOnEveryNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nodes := startCluster(t, ctx, 3)
	cs := []*sqs.Client{sqsClient(nodes[0]), sqsClient(nodes[1]), sqsClient(nodes[2])}
	var url string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err := cs[1].CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("routed")})
		if err == nil {
			url = aws.ToString(out.QueueUrl)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("create through node 2: %v", err)
		}
	}
	const n = 20
	for i := range n {
		if _, err := cs[i%3].SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(fmt.Sprint(i))}); err != nil {
			t.Fatalf("send %d through node %d: %v", i, i%3+1, err)
		}
	}
	got := map[string]bool{}
	for deadline := time.Now().Add(20 * time.Second); len(got) < n && time.Now().Before(deadline); {
		out, err := cs[2].ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatalf("receive through node 3: %v", err)
		}
		for _, m := range out.Messages {
			got[aws.ToString(m.Body)] = true
			if _, err := cs[0].DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("delete through node 1: %v", err)
			}
		}
	}
	if len(got) != n {
		t.Fatalf("received %d distinct messages, want %d", len(got), n)
	}
	for i, c := range cs {
		_, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("nope")})
		var missing *types.QueueDoesNotExist
		if !errors.As(err, &missing) {
			t.Errorf("node %d: missing queue gave %v, want QueueDoesNotExist", i+1, err)
		}
	}
}
