package fanout

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"time"
)

// ConfirmationRequest builds SNS's SubscriptionConfirmation POST to an
// HTTP/S subscription's endpoint: headers x-amz-sns-message-type,
// x-amz-sns-message-id and x-amz-sns-topic-arn, and the confirmation JSON
// carrying token and subscribeURL (see SubscribeURL), signed by s (nil:
// unsigned). now stamps it; its MessageId is a new UUID.
func ConfirmationRequest(ctx context.Context, s *Signer, sub Subscription, token, subscribeURL string, now time.Time) (*http.Request, error) {
	c := Confirmation{MessageID: newUUID(), Token: token, TopicArn: sub.TopicArn, SubscribeURL: subscribeURL, Timestamp: now}
	if s != nil {
		c.SignatureVersion = sub.SignatureVersion
		if c.SignatureVersion == "" {
			c.SignatureVersion = "1"
		}
		sig, err := s.Sign(c.SignatureVersion, c.StringToSign())
		if err != nil {
			return nil, err
		}
		c.Signature, c.SigningCertURL = sig, s.CertURL()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.Endpoint, bytes.NewReader(c.JSON()))
	if err != nil {
		return nil, fmt.Errorf("build subscription confirmation: %w", err)
	}
	req.Header[HeaderMessageType] = []string{TypeSubscriptionConfirmation}
	req.Header[HeaderMessageID] = []string{c.MessageID}
	req.Header[HeaderTopicArn] = []string{sub.TopicArn}
	req.Header.Set("Content-Type", sub.httpPolicy().ContentType())
	req.Header.Set("User-Agent", UserAgent)
	return req, nil
}

// SendConfirmation POSTs the SubscriptionConfirmation once (the caller
// decides about retrying) and returns an error unless the endpoint
// answers 2xx. client nil means http.DefaultClient.
func SendConfirmation(ctx context.Context, client *http.Client, s *Signer, sub Subscription, token, subscribeURL string, now time.Time) error {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := ConfirmationRequest(ctx, s, sub, token, subscribeURL, now)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("send subscription confirmation to %s: %w", sub.Endpoint, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("send subscription confirmation to %s: endpoint answered %d", sub.Endpoint, resp.StatusCode)
	}
	return nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
