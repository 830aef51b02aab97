package filter

import (
	"fmt"
	"strings"
	"testing"
)

// largeBody is a ~2 KB event in which the policy's keys are a small part.
func largeBody() string {
	var b strings.Builder
	b.WriteString(`{"version":"0","id":"6a7e8feb-b491-4cf7-a9f1-bf3703467718","detail-type":"EC2 Instance State-change Notification",`)
	b.WriteString(`"source":"aws.ec2","account":"111122223333","time":"2017-12-22T18:43:48Z","region":"us-west-1","resources":[`)
	for i := 0; i < 20; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"arn:aws:ec2:us-west-1:123456789012:instance/i-%016x"`, i)
	}
	b.WriteString(`],"detail":{"instance-id":"i-1234567890abcdef0","state":"terminated","tags":[`)
	for i := 0; i < 10; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"key":"k%d","value":"value with \"escapes\" %d"}`, i, i)
	}
	b.WriteString(`],"metrics":{"cpu":87.5,"mem":[1,2,3,4,5,6,7,8,9,10]}},"store":"example_corp","price_usd":210.75}`)
	return b.String()
}

func BenchmarkMatch(b *testing.B) {
	cases := []struct {
		name   string
		scope  Scope
		policy string
		in     Input
	}{
		{"attributes/example-accept", ScopeAttributes, acceptPolicy, Input{Attributes: exampleAttrs}},
		{"attributes/example-reject", ScopeAttributes, rejectPolicy, Input{Attributes: exampleAttrs}},
		{"attributes/one-key", ScopeAttributes, `{"store": ["example_corp"]}`, Input{Attributes: exampleAttrs}},
		{"attributes/or", ScopeAttributes, `{"$or": [{"store": ["x"]}, {"event": [{"prefix": "order_"}]}]}`, Input{Attributes: exampleAttrs}},
		{"body/example-accept", ScopeBody, acceptPolicy, Input{Body: exampleBody}},
		{"body/example-reject", ScopeBody, rejectPolicy, Input{Body: exampleBody}},
		{"body/2KB-nested", ScopeBody,
			`{"source": ["aws.ec2"], "detail": {"state": [{"anything-but": "running"}], "metrics": {"cpu": [{"numeric": [">", 80]}]}}, "store": [{"exists": true}]}`,
			Input{Body: largeBody()}},
		{"body/not-json", ScopeBody, `{"store": ["example_corp"]}`, Input{Body: "plain text message"}},
	}
	for _, tc := range cases {
		p, err := Compile(tc.policy, tc.scope)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Match(tc.in)
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(acceptPolicy, ScopeBody); err != nil {
			b.Fatal(err)
		}
	}
}
