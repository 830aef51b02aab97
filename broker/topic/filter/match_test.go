package filter

import (
	"fmt"
	"testing"

	"github.com/nimbusmq/nimbus/broker"
)

type attrs = map[string]broker.AttributeValue

func str(v string) broker.AttributeValue {
	return broker.AttributeValue{DataType: "String", StringValue: v}
}
func num(v string) broker.AttributeValue {
	return broker.AttributeValue{DataType: "Number", StringValue: v}
}
func arr(v string) broker.AttributeValue {
	return broker.AttributeValue{DataType: "String.Array", StringValue: v}
}
func bin(v string) broker.AttributeValue {
	return broker.AttributeValue{DataType: "Binary", BinaryValue: []byte(v)}
}

// matchCase is one policy matched against one message.
type matchCase struct {
	name   string
	scope  Scope
	policy string
	attrs  attrs
	body   string
	want   bool
}

func a(name, policy string, at attrs, want bool) matchCase {
	return matchCase{name: name, scope: ScopeAttributes, policy: policy, attrs: at, want: want}
}

func b(name, policy, body string, want bool) matchCase {
	return matchCase{name: name, scope: ScopeBody, policy: policy, body: body, want: want}
}

// The example message of the SNS guide, as attributes and as a body.
var (
	exampleAttrs = attrs{
		"customer_interests": arr(`["soccer", "rugby", "hockey"]`),
		"store":              str("example_corp"),
		"event":              str("order_placed"),
		"price_usd":          num("210.75"),
	}
	exampleBody = `{"customer_interests": ["soccer", "rugby", "hockey"], "store": "example_corp", "event":"order_placed", "price_usd":210.75}`

	acceptPolicy = `{
		"store": ["example_corp"],
		"event": [{"anything-but": "order_cancelled"}],
		"customer_interests": ["rugby", "football", "baseball"],
		"price_usd": [{"numeric": [">=", 100]}]
	}`
	rejectPolicy = `{
		"store": ["example_corp"],
		"event": ["order_cancelled"],
		"encrypted": [false],
		"customer_interests": ["basketball", "baseball"]
	}`
)

func with(base attrs, name string, v broker.AttributeValue) attrs {
	out := attrs{}
	for k, x := range base {
		out[k] = x
	}
	out[name] = v
	return out
}

func matchCases() []matchCase {
	const (
		exact      = `{"customer_interests": ["rugby", "tennis"]}`
		anyBut     = `{"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}`
		anyButPfx  = `{"event": [{"anything-but": {"prefix": "order-"}}]}`
		anyButWild = `{"customer_interests": [{"anything-but": {"wildcard": "*ball"}}]}`
		anyButSfx  = `{"customer_interests": [{"anything-but": {"suffix": "ball"}}]}`
		ignoreCase = `{"customer_interests": [{"equals-ignore-case": "tennis"}]}`
		cidr       = `{"source_ip": [{"cidr": "10.0.0.0/24"}]}`
		prefix     = `{"customer_interests": [{"prefix": "bas"}]}`
		suffix     = `{"customer_interests": [{"suffix": "ball"}]}`
		wildcard   = `{"customer_interests": [{"wildcard": "*ball"}]}`

		numEq     = `{"price_usd": [{"numeric": ["=", 301.5]}]}`
		numAnyBut = `{"price": [{"anything-but": [100, 500]}]}`
		numLess   = `{"price_usd": [{"numeric": ["<", 0]}]}`
		numRange  = `{"price_usd": [{"numeric": [">", 0, "<=", 150]}]}`

		existsT = `{"store": [{"exists": true}]}`
		existsF = `{"store": [{"exists": false}]}`

		and   = `{"customer_interests": ["rugby"], "price_usd": [{"numeric": [">", 100]}]}`
		or    = `{"customer_interests": ["rugby", "football", "baseball"]}`
		orOp  = `{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}]}`
		orCpx = `{"source": ["aws.cloudwatch"], "$or": [
			{"metricName": ["CPUUtilization", "ReadLatency"]},
			{"metricType": ["MetricType"], "$or": [{"metricId": [1234, 4321]}, {"spaceId": [1000, 2000, 3000]}]}]}`
		orNested = `{"$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}],
			"detail": {"scope": ["Service"], "$or": [{"source": ["aws.cloudwatch"]}, {"type": ["CloudWatch Alarm State Change"]}]}}`
	)
	return []matchCase{
		// https://docs.aws.amazon.com/sns/latest/dg/example-filter-policies.html
		// The example message, a policy that accepts it and one that
		// rejects it, in both scopes.
		a("example accept", acceptPolicy, exampleAttrs, true),
		a("example reject", rejectPolicy, exampleAttrs, false),
		a("example accept, other store", acceptPolicy, with(exampleAttrs, "store", str("other_corp")), false),
		a("example accept, cancelled", acceptPolicy, with(exampleAttrs, "event", str("order_cancelled")), false),
		a("example accept, cheap", acceptPolicy, with(exampleAttrs, "price_usd", num("99.99")), false),
		a("example accept, price exactly 100", acceptPolicy, with(exampleAttrs, "price_usd", num("100")), true),
		a("example accept, no interest listed", acceptPolicy, with(exampleAttrs, "customer_interests", arr(`["soccer","hockey"]`)), false),
		a("example accept, no store", acceptPolicy, attrs{"event": str("order_placed"), "customer_interests": str("rugby"), "price_usd": num("300")}, false),
		a("example reject, encrypted absent is a mismatch", `{"encrypted": [false]}`, exampleAttrs, false),
		b("example accept body", acceptPolicy, exampleBody, true),
		b("example reject body", rejectPolicy, exampleBody, false),
		b("example reject body, all matching but event", rejectPolicy,
			`{"store":"example_corp","event":"order_placed","encrypted":false,"customer_interests":["soccer","baseball"]}`, false),
		b("example reject body, all matching", rejectPolicy,
			`{"store":"example_corp","event":"order_cancelled","encrypted":false,"customer_interests":["soccer","baseball"]}`, true),
		b("encrypted false", `{"encrypted": [false]}`, `{"store":"example_corp","encrypted":false}`, true),
		b("encrypted true", `{"encrypted": [false]}`, `{"store":"example_corp","encrypted":true}`, false),
		b("encrypted as a string", `{"encrypted": [false]}`, `{"encrypted":"false"}`, false),

		// https://docs.aws.amazon.com/sns/latest/dg/string-value-matching.html
		// Exact matching.
		a("exact rugby", exact, attrs{"customer_interests": str("rugby")}, true),
		a("exact tennis", exact, attrs{"customer_interests": str("tennis")}, true),
		a("exact array", exact, attrs{"customer_interests": arr(`["rugby", "tennis"]`)}, true),
		b("exact body rugby", exact, `{"customer_interests": "rugby"}`, true),
		b("exact body tennis", exact, `{"customer_interests": "tennis"}`, true),
		a("exact baseball", exact, attrs{"customer_interests": str("baseball")}, false),
		a("exact array baseball", exact, attrs{"customer_interests": arr(`["baseball"]`)}, false),
		b("exact body baseball", exact, `{"customer_interests": "baseball"}`, false),
		a("exact is case-sensitive", exact, attrs{"customer_interests": str("Rugby")}, false),
		// Anything-but matching.
		a("anything-but baseball", anyBut, attrs{"customer_interests": str("baseball")}, true),
		a("anything-but football", anyBut, attrs{"customer_interests": str("football")}, true),
		a("anything-but array with one other", anyBut, attrs{"customer_interests": arr(`["rugby", "baseball"]`)}, true),
		b("anything-but body baseball", anyBut, `{"customer_interests": "baseball"}`, true),
		b("anything-but body football", anyBut, `{"customer_interests": "football"}`, true),
		b("anything-but body array with one other", anyBut, `{"customer_interests": ["rugby", "baseball"]}`, true),
		a("anything-but rugby", anyBut, attrs{"customer_interests": str("rugby")}, false),
		a("anything-but array of rugby", anyBut, attrs{"customer_interests": arr(`["rugby"]`)}, false),
		b("anything-but body array of rugby", anyBut, `{"customer_interests": ["rugby"]}`, false),
		a("anything-but needs the attribute", anyBut, attrs{"other": str("x")}, false),
		// anything-but with prefix.
		a("anything-but prefix data-entry", anyButPfx, attrs{"event": str("data-entry")}, true),
		a("anything-but prefix order_number", anyButPfx, attrs{"event": str("order_number")}, true),
		b("anything-but prefix body data-entry", anyButPfx, `{"event": "data-entry"}`, true),
		b("anything-but prefix body order_number", anyButPfx, `{"event": "order_number"}`, true),
		a("anything-but prefix order-cancelled", anyButPfx, attrs{"event": str("order-cancelled")}, false),
		b("anything-but prefix body order-cancelled", anyButPfx, `{"event": "order-cancelled"}`, false),
		// anything-but with wildcard and suffix.
		b("anything-but wildcard others", anyButWild, `{"customer_interests": ["hockey", "rugby", "soccer"]}`, true),
		b("anything-but wildcard balls", anyButWild, `{"customer_interests": ["baseball", "basketball"]}`, false),
		a("anything-but wildcard attribute others", anyButWild, attrs{"customer_interests": arr(`["hockey", "rugby", "soccer"]`)}, true),
		a("anything-but wildcard attribute balls", anyButWild, attrs{"customer_interests": arr(`["baseball", "basketball"]`)}, false),
		b("anything-but suffix others", anyButSfx, `{"customer_interests": ["hockey", "rugby", "soccer"]}`, true),
		b("anything-but suffix balls", anyButSfx, `{"customer_interests": ["baseball", "basketball"]}`, false),
		a("anything-but suffix attribute others", anyButSfx, attrs{"customer_interests": arr(`["hockey", "rugby", "soccer"]`)}, true),
		a("anything-but suffix attribute balls", anyButSfx, attrs{"customer_interests": arr(`["baseball", "basketball"]`)}, false),
		// Equals-ignore-case matching.
		a("ignore-case TENNIS", ignoreCase, attrs{"customer_interests": str("TENNIS")}, true),
		a("ignore-case Tennis", ignoreCase, attrs{"customer_interests": str("Tennis")}, true),
		b("ignore-case body TENNIS", ignoreCase, `{"customer_interests": "TENNIS"}`, true),
		b("ignore-case body teNnis", ignoreCase, `{"customer_interests": "teNnis"}`, true),
		a("ignore-case other word", ignoreCase, attrs{"customer_interests": str("tennis!")}, false),
		b("ignore-case body other word", ignoreCase, `{"customer_interests": "TENNI"}`, false),
		// IP address matching.
		a("cidr 10.0.0.0", cidr, attrs{"source_ip": str("10.0.0.0")}, true),
		a("cidr 10.0.0.255", cidr, attrs{"source_ip": str("10.0.0.255")}, true),
		b("cidr body 10.0.0.0", cidr, `{"source_ip": "10.0.0.0"}`, true),
		b("cidr body 10.0.0.255", cidr, `{"source_ip": "10.0.0.255"}`, true),
		a("cidr 10.1.1.0", cidr, attrs{"source_ip": str("10.1.1.0")}, false),
		b("cidr body 10.1.1.0", cidr, `{"source_ip": "10.1.1.0"}`, false),
		a("cidr not an address", cidr, attrs{"source_ip": str("not-an-ip")}, false),
		a("cidr ipv6 in", `{"source_ip": [{"cidr": "2001:db8::/32"}]}`, attrs{"source_ip": str("2001:db8::1")}, true),
		b("cidr ipv6 body out", `{"source_ip": [{"cidr": "2001:db8::/32"}]}`, `{"source_ip": "2001:db9::1"}`, false),
		a("cidr ipv4 against ipv6 prefix", `{"source_ip": [{"cidr": "2001:db8::/32"}]}`, attrs{"source_ip": str("10.0.0.1")}, false),
		a("cidr ipv4-mapped ipv6 address", cidr, attrs{"source_ip": str("::ffff:10.0.0.7")}, true),
		// Prefix matching.
		a("prefix baseball", prefix, attrs{"customer_interests": str("baseball")}, true),
		a("prefix basketball", prefix, attrs{"customer_interests": str("basketball")}, true),
		b("prefix body baseball", prefix, `{"customer_interests": "baseball"}`, true),
		b("prefix body basketball", prefix, `{"customer_interests": "basketball"}`, true),
		a("prefix rugby", prefix, attrs{"customer_interests": str("rugby")}, false),
		b("prefix body rugby", prefix, `{"customer_interests": "rugby"}`, false),
		// Suffix matching.
		a("suffix baseball", suffix, attrs{"customer_interests": str("baseball")}, true),
		a("suffix basketball", suffix, attrs{"customer_interests": str("basketball")}, true),
		b("suffix body baseball", suffix, `{"customer_interests": "baseball"}`, true),
		b("suffix body basketball", suffix, `{"customer_interests": "basketball"}`, true),
		a("suffix rugby", suffix, attrs{"customer_interests": str("rugby")}, false),
		b("suffix body rugby", suffix, `{"customer_interests": "rugby"}`, false),
		// Wildcard.
		b("wildcard body balls", wildcard, `{"customer_interests": ["baseball", "basketball"]}`, true),
		a("wildcard attribute balls", wildcard, attrs{"customer_interests": arr(`["baseball", "basketball"]`)}, true),
		a("wildcard rugby", wildcard, attrs{"customer_interests": str("rugby")}, false),
		b("wildcard inner stars", `{"f": [{"wildcard": "a*b*c"}]}`, `{"f": "axxbyyc"}`, true),
		b("wildcard inner stars, parts overlap", `{"f": [{"wildcard": "ab*ba"}]}`, `{"f": "aba"}`, false),
		b("wildcard escaped star", `{"f": [{"wildcard": "a\\*b"}]}`, `{"f": "a*b"}`, true),
		b("wildcard escaped star is literal", `{"f": [{"wildcard": "a\\*b"}]}`, `{"f": "axb"}`, false),

		// https://docs.aws.amazon.com/sns/latest/dg/numeric-value-matching.html
		// Exact matching.
		a("numeric = 301.5", numEq, attrs{"price_usd": num("301.5")}, true),
		a("numeric = 3.015e2", numEq, attrs{"price_usd": num("3.015e2")}, true),
		b("numeric body 301.5", numEq, `{"price_usd": 301.5}`, true),
		b("numeric body 3.015e2", numEq, `{"price_usd": 3.015e2}`, true),
		a("numeric = other", numEq, attrs{"price_usd": num("301.51")}, false),
		b("numeric body string is not a number", numEq, `{"price_usd": "301.5"}`, false),
		a("numeric literal", `{"price_usd": [301.5]}`, attrs{"price_usd": num("301.50")}, true),
		b("numeric literal body", `{"price_usd": [301.5]}`, `{"price_usd": 3015e-1}`, true),
		// Anything-but matching.
		a("numeric anything-but 101", numAnyBut, attrs{"price": num("101")}, true),
		a("numeric anything-but 100.1", numAnyBut, attrs{"price": num("100.1")}, true),
		b("numeric anything-but body 101", numAnyBut, `{"price": 101}`, true),
		b("numeric anything-but body 100.1", numAnyBut, `{"price": 100.1}`, true),
		a("numeric anything-but array [100, 50]", numAnyBut, attrs{"price": arr(`[100, 50]`)}, true),
		b("numeric anything-but body [100, 50]", numAnyBut, `{"price": [100, 50]}`, true),
		a("numeric anything-but 100", numAnyBut, attrs{"price": num("100")}, false),
		b("numeric anything-but body 100", numAnyBut, `{"price": 100}`, false),
		b("numeric anything-but body 1e2", numAnyBut, `{"price": 1e2}`, false),
		// Value range matching.
		a("numeric < 0, negative", numLess, attrs{"price_usd": num("-0.5")}, true),
		a("numeric < 0, zero", numLess, attrs{"price_usd": num("0")}, false),
		b("numeric < 0, body negative", numLess, `{"price_usd": -3}`, true),
		a("range (0, 150], 150", numRange, attrs{"price_usd": num("150")}, true),
		a("range (0, 150], 0.00001", numRange, attrs{"price_usd": num("0.00001")}, true),
		a("range (0, 150], 0", numRange, attrs{"price_usd": num("0")}, false),
		a("range (0, 150], 150.00001", numRange, attrs{"price_usd": num("150.00001")}, false),
		b("range (0, 150], body 75", numRange, `{"price_usd": 75}`, true),
		b("range (0, 150], body array with one in range", numRange, `{"price_usd": [-1, 200, 7]}`, true),
		b("range (0, 150], body array none in range", numRange, `{"price_usd": [-1, 200]}`, false),
		a("range, String attribute is not numeric", numRange, attrs{"price_usd": str("75")}, false),
		a("range, String.Array number", numRange, attrs{"price_usd": arr(`[75]`)}, true),
		a("range, String.Array string", numRange, attrs{"price_usd": arr(`["75"]`)}, false),
		a("range, >= and <", `{"p": [{"numeric": [">=", 10, "<", 20]}]}`, attrs{"p": num("10")}, true),
		a("range, >= and <, top", `{"p": [{"numeric": [">=", 10, "<", 20]}]}`, attrs{"p": num("20")}, false),
		a("numeric, malformed Number attribute", numRange, attrs{"price_usd": num("abc")}, false),

		// https://docs.aws.amazon.com/sns/latest/dg/attribute-key-matching.html
		a("exists true, present", existsT, attrs{"store": str("fans"), "customer_interests": arr(`["baseball", "basketball"]`)}, true),
		b("exists true, body present", existsT, `{"store": "fans", "customer_interests": ["baseball", "basketball"]}`, true),
		a("exists true, absent", existsT, attrs{"customer_interests": arr(`["baseball", "basketball"]`)}, false),
		b("exists true, body absent", existsT, `{"customer_interests": ["baseball", "basketball"]}`, false),
		a("exists false, present", existsF, attrs{"store": str("fans"), "customer_interests": arr(`["baseball", "basketball"]`)}, false),
		b("exists false, body present", existsF, `{"store": "fans", "customer_interests": ["baseball", "basketball"]}`, false),
		a("exists false, absent", existsF, attrs{"customer_interests": arr(`["baseball", "basketball"]`)}, true),
		b("exists false, body absent", existsF, `{"customer_interests": ["baseball", "basketball"]}`, true),
		a("exists false, no attributes at all", existsF, nil, true),
		// https://docs.aws.amazon.com/sns/latest/dg/subscription-filter-policy-constraints.html
		// ("Amazon SNS ignores message attributes with the Binary data type").
		a("exists true, Binary is ignored", existsT, attrs{"store": bin("fans")}, false),
		a("exists false, Binary is ignored", existsF, attrs{"store": bin("fans")}, true),
		a("exact, Binary never matches", `{"store": ["fans"]}`, attrs{"store": bin("fans")}, false),
		a("exact, labelled String", `{"store": ["fans"]}`, attrs{"store": {DataType: "String.shop", StringValue: "fans"}}, true),
		a("numeric, labelled Number", numRange, attrs{"price_usd": {DataType: "Number.usd", StringValue: "10"}}, true),
		a("exact, labelled String.Array", `{"store": ["fans"]}`, attrs{"store": {DataType: "String.Array.shops", StringValue: `["x","fans"]`}}, true),
		// anything-but can be combined with "exists": false (string-value-matching.html).
		a("anything-but or absent, absent", `{"store": [{"anything-but": "fans"}, {"exists": false}]}`, attrs{}, true),
		a("anything-but or absent, other", `{"store": [{"anything-but": "fans"}, {"exists": false}]}`, attrs{"store": str("x")}, true),
		a("anything-but or absent, excluded", `{"store": [{"anything-but": "fans"}, {"exists": false}]}`, attrs{"store": str("fans")}, false),

		// https://docs.aws.amazon.com/sns/latest/dg/and-or-logic.html
		a("AND both", and, attrs{"customer_interests": str("rugby"), "price_usd": num("100.5")}, true),
		b("AND both body", and, `{"customer_interests": "rugby", "price_usd": 101}`, true),
		a("AND price too low", and, attrs{"customer_interests": str("rugby"), "price_usd": num("100")}, false),
		a("AND other interest", and, attrs{"customer_interests": str("football"), "price_usd": num("150")}, false),
		a("OR football", or, attrs{"customer_interests": str("football")}, true),
		b("OR body baseball", or, `{"customer_interests": "baseball"}`, true),
		a("OR soccer", or, attrs{"customer_interests": str("soccer")}, false),
		a("$or source and metricName", orOp, attrs{"source": str("aws.cloudwatch"), "metricName": str("CPUUtilization")}, true),
		a("$or source and namespace", orOp, attrs{"source": str("aws.cloudwatch"), "namespace": str("AWS/EC2")}, true),
		b("$or body source and metricName", orOp, `{"source": "aws.cloudwatch", "metricName": "CPUUtilization"}`, true),
		b("$or body source and namespace", orOp, `{"source": "aws.cloudwatch", "namespace": "AWS/EC2"}`, true),
		a("$or source only", orOp, attrs{"source": str("aws.cloudwatch")}, false),
		a("$or without source", orOp, attrs{"metricName": str("CPUUtilization"), "namespace": str("AWS/EC2")}, false),
		b("$or body wrong namespace", orOp, `{"source": "aws.cloudwatch", "namespace": "AWS/S3"}`, false),
		a("$or nested, metricType and spaceId", orCpx, attrs{"source": str("aws.cloudwatch"), "metricType": str("MetricType"), "spaceId": num("2000")}, true),
		a("$or nested, metricType and metricId", orCpx, attrs{"source": str("aws.cloudwatch"), "metricType": str("MetricType"), "metricId": arr(`[4321]`)}, true),
		a("$or nested, metricType without an id", orCpx, attrs{"source": str("aws.cloudwatch"), "metricType": str("MetricType")}, false),
		a("$or nested, ReadLatency", orCpx, attrs{"source": str("aws.cloudwatch"), "metricName": str("ReadLatency")}, true),
		b("$or in nested object", orNested, `{"metricName": "ReadLatency", "detail": {"scope": "Service", "type": "CloudWatch Alarm State Change"}}`, true),
		b("$or in nested object, source", orNested, `{"namespace": "AWS/ES", "detail": {"scope": "Service", "source": "aws.cloudwatch"}}`, true),
		b("$or in nested object, no scope", orNested, `{"namespace": "AWS/ES", "detail": {"source": "aws.cloudwatch"}}`, false),
		b("$or in nested object, neither branch", orNested, `{"namespace": "AWS/ES", "detail": {"scope": "Service"}}`, false),
		b("$or in nested object, top-level neither", orNested, `{"detail": {"scope": "Service", "source": "aws.cloudwatch"}}`, false),
		a("$or with one element is a key", `{"$or": ["literal-value"]}`, attrs{"$or": str("literal-value")}, true),
		b("$or with non-object elements is a key", `{"$or": ["a", "b"]}`, `{"$or": "b"}`, true),

		// https://docs.aws.amazon.com/sns/latest/dg/subscription-filter-policy-constraints.html
		// (payload-based filtering accepts nested policies) and the
		// FilterOrPolicy example of
		// https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_sns.FilterOrPolicy.html
		b("nested color red, no store", `{"background": {"color": ["red", "orange"]}, "store": [{"exists": false}]}`, `{"background": {"color": "red"}}`, true),
		b("nested color red, with store", `{"background": {"color": ["red", "orange"]}, "store": [{"exists": false}]}`, `{"background": {"color": "red"}, "store": "x"}`, false),
		b("nested color blue", `{"background": {"color": ["red", "orange"]}}`, `{"background": {"color": "blue"}}`, false),
		b("nested, key at the wrong level", `{"background": {"color": ["red"]}}`, `{"color": "red"}`, false),
		b("nested, array of objects", `{"background": {"color": ["red"]}}`, `{"background": [{"color": "blue"}, {"color": "red"}]}`, true),
		b("nested, same element for sibling keys", `{"a": {"b": [1], "c": [2]}}`, `{"a": [{"b": 1, "c": 2}]}`, true),
		b("nested, sibling keys from different elements", `{"a": {"b": [1], "c": [2]}}`, `{"a": [{"b": 1, "c": 0}, {"b": 0, "c": 2}]}`, false),
		b("nested exists false, parent absent", `{"a": {"b": [{"exists": false}]}}`, `{"c": 1}`, true),
		b("nested exists false, parent a scalar", `{"a": {"b": [{"exists": false}]}}`, `{"a": 1}`, true),
		b("nested exists true, parent absent", `{"a": {"b": [{"exists": true}]}}`, `{"c": 1}`, false),
		b("deeply nested", `{"a": {"b": {"c": ["x"]}}}`, `{"a": {"b": {"c": ["y", "x"]}}}`, true),
		b("a leaf key holding an object has no value", `{"a": [{"exists": true}]}`, `{"a": {"b": 1}}`, false),
		b("a leaf key holding an empty array has no value", `{"a": [{"exists": true}]}`, `{"a": []}`, false),
		b("null is a value", `{"a": [null]}`, `{"a": null}`, true),
		b("null exists", `{"a": [{"exists": true}]}`, `{"a": null}`, true),
		b("null is not a missing key", `{"a": [null]}`, `{}`, false),
		b("escaped key and value", `{"k\u00e9y": ["caf\u00e9"]}`, `{"k\u00e9y": "café"}`, true),
		b("escaped body key", `{"key": ["v"]}`, `{"k\u0065y": "v"}`, true),
		// https://docs.aws.amazon.com/solutions/latest/automated-security-response-on-aws/filtering-an-sns-topic-subscription.html
		b("ASR filter by account", `{"finding": {"account": ["111111111111", "222222222222"]}}`, `{"finding": {"account": "222222222222", "region": "us-east-1"}}`, true),
		b("ASR filter by account, other", `{"finding": {"account": ["111111111111", "222222222222"]}}`, `{"finding": {"account": "333333333333"}}`, false),
		b("ASR filter for errors", `{"severity": ["ERROR"]}`, `{"severity": "ERROR", "finding": {}}`, true),
		b("ASR filter by controls", `{"finding": {"standard_control": ["S3.9", "S3.6"]}}`, `{"finding": {"standard_control": "S3.6"}}`, true),

		// https://docs.aws.amazon.com/sns/latest/dg/sns-message-filtering.html
		// ("Filter policies for the message body assume that the message
		// payload is a well-formed JSON object").
		b("body not JSON", `{"a": ["x"]}`, `a=x`, false),
		b("body a JSON array", `{"a": ["x"]}`, `[{"a": "x"}]`, false),
		b("body a JSON string", `{"a": ["x"]}`, `"x"`, false),
		b("body truncated JSON", `{"a": ["x"]}`, `{"a": "x"`, false),
		b("body with trailing garbage", `{"a": ["x"]}`, `{"a": "x"} x`, false),
		b("body exists false still needs JSON", `{"a": [{"exists": false}]}`, `not json`, false),
		b("empty body", `{"a": [{"exists": false}]}`, ``, false),
		a("attribute scope ignores the body", `{"a": ["x"]}`, attrs{}, false),
		a("String.Array that is not JSON", `{"a": ["x"]}`, attrs{"a": arr(`x`)}, false),
		a("String.Array booleans and null", `{"a": [true, null]}`, attrs{"a": arr(`[false, null]`)}, true),
		a("String attribute 'true' is a string", `{"a": [true]}`, attrs{"a": str("true")}, false),
		a("Number attribute against a string", `{"a": ["100"]}`, attrs{"a": num("100")}, false),
		a("Number attribute against a prefix", `{"a": [{"prefix": "1"}]}`, attrs{"a": num("100")}, false),

		// Choices the guide leaves open, as DESIGN.md ("Semantics where
		// the documentation leaves a choice") records them.
		b("anything-but matches a number", `{"a": [{"anything-but": "x"}]}`, `{"a": 5}`, true),
		b("anything-but matches null", `{"a": [{"anything-but": ["x"]}]}`, `{"a": null}`, true),
		b("anything-but numbers matches a string", `{"a": [{"anything-but": [1]}]}`, `{"a": "1"}`, true),
		b("anything-but prefix matches a number", `{"a": [{"anything-but": {"prefix": "1"}}]}`, `{"a": 10}`, true),
		a("an empty String.Array exists", existsT, attrs{"store": arr(`[]`)}, true),
		a("an empty String.Array has no value", `{"store": [{"anything-but": "x"}]}`, attrs{"store": arr(`[]`)}, false),
		a("cidr host bits are ignored", `{"ip": [{"cidr": "10.0.0.7/24"}]}`, attrs{"ip": str("10.0.0.200")}, true),
		b("duplicate body keys: any occurrence", `{"a": ["y"]}`, `{"a": "x", "a": "y"}`, true),
		b("numbers compare as float64", `{"a": [{"numeric": ["=", 0.1]}]}`, `{"a": 1e-1}`, true),
		b("body numbers beyond the policy range", `{"a": [{"numeric": [">", 1000000000]}]}`, `{"a": 1e300}`, true),
		b("nested arrays are flattened", `{"a": ["x"]}`, `{"a": [["y", ["x"]]]}`, true),
		a("String.Array objects are skipped", `{"a": ["x"]}`, attrs{"a": arr(`[{"b": "x"}]`)}, false),
		a("unknown data type exists but has no value", `{"a": [{"exists": true}]}`, attrs{"a": {DataType: "Other", StringValue: "x"}}, true),
		a("dotted key is literal", `{"a.b": ["x"]}`, attrs{"a.b": str("x")}, true),
		b("dotted key is not a path", `{"a.b": ["x"]}`, `{"a": {"b": "x"}}`, false),
	}
}

func TestMatchDocExamples(t *testing.T) {
	cases := matchCases()
	if len(cases) < 100 {
		t.Fatalf("only %d cases", len(cases))
	}
	for i, tc := range cases {
		t.Run(fmt.Sprintf("%03d %s", i, tc.name), func(t *testing.T) {
			p, err := Compile(tc.policy, tc.scope)
			if err != nil {
				t.Fatalf("Compile(%s, %v): %v", tc.policy, tc.scope, err)
			}
			if p == nil {
				t.Fatalf("Compile(%s) returned nil", tc.policy)
			}
			got := p.Match(Input{Attributes: tc.attrs, Body: tc.body})
			if got != tc.want {
				t.Errorf("policy %s\nattributes %v\nbody %s\nMatch = %v, want %v", tc.policy, tc.attrs, tc.body, got, tc.want)
			}
			if again := p.Match(Input{Attributes: tc.attrs, Body: tc.body}); again != got {
				t.Errorf("second Match = %v, first %v", again, got)
			}
		})
	}
}

// TestMatchConcurrent matches one compiled policy from many goroutines (run
// with -race): a Policy is immutable and tapes come from a pool.
func TestMatchConcurrent(t *testing.T) {
	type compiled struct {
		p    *Policy
		in   Input
		want bool
	}
	var all []compiled
	for _, tc := range matchCases() {
		p, err := Compile(tc.policy, tc.scope)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, compiled{p, Input{Attributes: tc.attrs, Body: tc.body}, tc.want})
	}
	done := make(chan string, 8)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 20; i++ {
				for _, c := range all {
					if c.p.Match(c.in) != c.want {
						done <- fmt.Sprintf("%v gave %v", c.in, !c.want)
						return
					}
				}
			}
			done <- ""
		}()
	}
	for g := 0; g < 8; g++ {
		if msg := <-done; msg != "" {
			t.Error(msg)
		}
	}
}
