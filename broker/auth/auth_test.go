package auth

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nimbusmq/nimbus/broker"
)

func TestNamespaceRoundTrip(t *testing.T) {
	ns := NewNamespace("acme")
	acct := ns.Account()
	if len(acct) != 12 || acct == broker.Account || AccountID("acme") != acct {
		t.Fatalf("account %q", acct)
	}
	for _, c := range []struct{ in, internal, user string }{
		{"orders", "acme~orders", "orders"},
		{"queue:orders", "queue:acme~orders", "queue:orders"},
		{"arn:aws:sqs:eu-west-1:" + acct + ":orders", "arn:aws:sqs:eu-west-1:000000000000:acme~orders", "arn:aws:sqs:eu-west-1:" + acct + ":orders"},
		{"arn:aws:sns:us-east-1:" + acct + ":t:sub-1", "arn:aws:sns:us-east-1:000000000000:acme~t:sub-1", "arn:aws:sns:us-east-1:" + acct + ":t:sub-1"},
		{"arn:aws:kinesis:us-east-1:" + acct + ":stream/s/consumer/c:1", "arn:aws:kinesis:us-east-1:000000000000:stream/acme~s/consumer/c:1", "arn:aws:kinesis:us-east-1:" + acct + ":stream/s/consumer/c:1"},
		{"http://h:1/" + acct + "/orders", "acme~orders", "orders"},
	} {
		got, err := ns.Ref(c.in)
		if err != nil || got != c.internal {
			t.Errorf("Ref(%q) = %q, %v; want %q", c.in, got, err, c.internal)
		}
		if u := ns.ToUser(got); u != c.user {
			t.Errorf("ToUser(%q) = %q, want %q", got, u, c.user)
		}
		if ns.Foreign(got) {
			t.Errorf("Foreign(%q) for its own tenant", got)
		}
		if NewNamespace("beta").Foreign(got) != true || (Namespace{}).Foreign(got) != true {
			t.Errorf("%q is not foreign to other tenants", got)
		}
	}
	for _, bad := range []string{"x~y", "arn:aws:sqs:us-east-1:000000000000:orders", "http://h/000000000000/orders"} {
		if _, err := ns.Ref(bad); err == nil {
			t.Errorf("Ref(%q) accepted", bad)
		}
	}
	// JSON with ARNs (a redrive policy) keeps everything else.
	in := `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:acme~dlq","maxReceiveCount":"3"}`
	if got := ns.ToUser(in); got != `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:`+acct+`:dlq","maxReceiveCount":"3"}` {
		t.Errorf("ToUser(policy) = %s", got)
	}
	// The default tenant is the identity, and sees no tenant's names.
	var def Namespace
	if got, err := def.Ref("orders"); err != nil || got != "orders" || def.ToUser("acme~x") != "acme~x" || !def.Foreign("acme~x") || def.Foreign("orders") {
		t.Errorf("default namespace: %q %v", got, err)
	}
	if ResourceName("arn:aws:kinesis:r:1:stream/s/consumer/c:1") != "s" || ResourceName("queue:q") != "q" || ResourceName("http://h/1/q") != "q" {
		t.Error("ResourceName")
	}
	if TenantOf("acme~q") != "acme" || TenantOf("q") != DefaultTenant {
		t.Error("TenantOf")
	}
	if broker.ValidateQueueName("acme~orders") != nil || broker.ValidateQueueName("x~y~z") == nil || broker.ValidateQueueName("Bad~q") == nil {
		t.Error("queue names with a tenant prefix")
	}
}

func TestSealerAndKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k", KeyFileName)
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil || string(k1) != string(k2) {
		t.Fatalf("reload: %v", err)
	}
	s, _ := NewSealer(k1)
	sealed := s.Seal("AKID", "the-secret")
	if strings.Contains(string(sealed), "the-secret") {
		t.Fatal("sealed secret holds the plaintext")
	}
	if got, err := s.Open("AKID", sealed); err != nil || got != "the-secret" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := s.Open("OTHER", sealed); err == nil {
		t.Error("opened under another access key id")
	}
	other, _ := NewSealer(make([]byte, KeySize))
	if _, err := other.Open("AKID", sealed); err == nil {
		t.Error("opened under another key")
	}
}

func TestGRPCSignature(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	h := SignGRPC("AKIDAKIDAKIDAKID", "secret", "/nimbus.v1.QueueService/SendMessage", now)
	a, err := ParseGRPCAuth(h)
	if err != nil {
		t.Fatal(err)
	}
	nonces := NewNonceCache(4)
	if err := VerifyGRPC(a, "secret", "/nimbus.v1.QueueService/SendMessage", now.Add(4*time.Minute), nonces); err != nil {
		t.Errorf("fresh: %v", err)
	}
	if err := VerifyGRPC(a, "secret", "/nimbus.v1.QueueService/SendMessage", now, nonces); err != ErrReplayed {
		t.Errorf("replay: %v", err)
	}
	if err := VerifyGRPC(a, "secret", "/nimbus.v1.QueueService/SendMessage", now.Add(6*time.Minute), nil); err != ErrExpired {
		t.Errorf("expired: %v", err)
	}
	if err := VerifyGRPC(a, "other", "/nimbus.v1.QueueService/SendMessage", now, nil); err != ErrBadSignature {
		t.Errorf("wrong secret: %v", err)
	}
	if err := VerifyGRPC(a, "secret", "/nimbus.v1.QueueService/DeleteQueue", now, nil); err != ErrBadSignature {
		t.Errorf("other method: %v", err)
	}
	for i := range 10 { // the cache stays bounded
		nonces.Use(string(rune('a'+i)), now, now)
	}
	if len(nonces.seen) > 5 {
		t.Errorf("nonce cache holds %d", len(nonces.seen))
	}
}

func TestParseCredentialsFile(t *testing.T) {
	good := "# comment\n\ndefault ADMINKEYID000001 admin-secret-0123456789 admin\nacme ACMEKEYID0000001\tacme-secret-0123456789\n"
	cs, err := ParseCredentialsFile(strings.NewReader(good))
	if err != nil || len(cs) != 2 || !cs[0].Admin || cs[1].Admin || cs[1].Tenant != "acme" {
		t.Fatalf("%+v %v", cs, err)
	}
	for _, bad := range []string{
		"acme ACMEKEYID0000001",
		"acme ACMEKEYID0000001 acme-secret-0123456789 root",
		"Acme ACMEKEYID0000001 acme-secret-0123456789",
		"acme short acme-secret-0123456789",
		"acme ACMEKEYID0000001 short",
		"acme ACMEKEYID0000001 acme-secret-0123456789\nbeta ACMEKEYID0000001 beta-secret-0123456789xx",
	} {
		_, err := ParseCredentialsFile(strings.NewReader(bad))
		if err == nil {
			t.Errorf("accepted %q", bad)
		} else if strings.Contains(err.Error(), "secret-0123456789") {
			t.Errorf("error echoes a secret: %v", err)
		}
	}
	if _, err := ParseScope("actions=SendMessage,Receive*;resources=orders"); err != nil {
		t.Error(err)
	}
	if _, err := ParseScope("verbs=x"); err == nil {
		t.Error("bad scope accepted")
	}
	p := Principal{Scopes: []Scope{{Actions: []string{"Send*"}, Resources: []string{"orders"}}}}
	if !p.Allows("SendMessage", []string{"orders"}) || p.Allows("ReceiveMessage", []string{"orders"}) || p.Allows("SendMessage", []string{"other"}) {
		t.Error("scope matching")
	}
}

// FuzzParseCredentialsFile: the bootstrap file parser never panics, and
// what it accepts is valid and never shows up in an error.
func FuzzParseCredentialsFile(f *testing.F) {
	f.Add("default ADMINKEYID000001 admin-secret-0123456789 admin\n")
	f.Add("# c\nacme ACMEKEYID0000001 acme-secret-0123456789\n\n")
	f.Add("a b c d e\n")
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := ParseCredentialsFile(strings.NewReader(s))
		if err != nil {
			return
		}
		for _, c := range cs {
			if ValidateTenantName(c.Tenant) != nil || ValidateAccessKeyID(c.AccessKeyID) != nil || ValidateSecret(c.Secret) != nil {
				t.Fatalf("accepted an invalid credential %+v", c)
			}
		}
	})
}

// FuzzParseGRPCAuth: the gRPC authorization header parser never panics,
// and a header it accepts formats back to the same fields.
func FuzzParseGRPCAuth(f *testing.F) {
	f.Add(SignGRPC("AKIDAKIDAKIDAKID", "s", "/m", time.Unix(1, 0)))
	f.Add("NIMBUS-HMAC-SHA256 Credential=x, Timestamp=1")
	f.Add("Bearer abc")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseGRPCAuth(s)
		if err != nil {
			return
		}
		if a.AccessKeyID == "" || a.Timestamp <= 0 || len(a.Signature) != 64 || len(a.Nonce) < 16 {
			t.Fatalf("accepted %q as %+v", s, a)
		}
		_ = VerifyGRPC(a, "secret", "/m", time.Unix(a.Timestamp, 0), NewNonceCache(2))
	})
}

// FuzzNamespace: mapping any reference never panics, and what maps comes
// back unchanged from ToUser.
func FuzzNamespace(f *testing.F) {
	f.Add("orders")
	f.Add("arn:aws:sqs:us-east-1:" + AccountID("acme") + ":orders")
	f.Add("http://h/" + AccountID("acme") + "/q")
	f.Add("topic:t")
	f.Fuzz(func(t *testing.T, s string) {
		ns := NewNamespace("acme")
		in, err := ns.Ref(s)
		if err != nil {
			return
		}
		if ns.Foreign(in) {
			t.Fatalf("Ref(%q) = %q names another tenant", s, in)
		}
		_ = ns.ToUser(in)
		_ = ResourceName(s)
	})
}
