package test

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/nimbusmq/nimbus"

// rule forbids packages matching from (exact, or prefix with "/...") from
// importing, directly or not, any package with one of the prefixes in deny.
type rule struct {
	from string
	deny []string
	why  string
}

var engines = []string{mod + "/broker/queue", mod + "/broker/catalog", mod + "/broker/stream", mod + "/broker/topic"}

// notEngine is what an engine never imports: the other layers, raft,
// gRPC and the wire formats.
var notEngine = []string{mod + "/broker/cluster", mod + "/broker/api", mod + "/broker/service", mod + "/broker/node", mod + "/broker/apply",
	mod + "/broker/fanout", mod + "/proto", "github.com/hashicorp/raft", "google.golang.org/grpc"}

func except(all []string, self string) []string {
	var out []string
	for _, e := range all {
		if e != self {
			out = append(out, e)
		}
	}
	return out
}

var rules = []rule{
	{mod + "/broker", []string{mod + "/", "github.com/", "google.golang.org/", "golang.org/"}, "the domain vocabulary is standard library only"},
	{mod + "/broker/queue", []string{mod + "/broker/catalog", mod + "/broker/cluster", mod + "/broker/api", mod + "/broker/service", mod + "/broker/node", mod + "/broker/apply", mod + "/proto", "github.com/hashicorp/raft", "google.golang.org/grpc"}, "engines are deterministic and know nothing of raft, gRPC or HTTP"},
	{mod + "/broker/catalog", []string{mod + "/broker/queue", mod + "/broker/cluster", mod + "/broker/api", mod + "/broker/service", mod + "/broker/node", mod + "/broker/apply", mod + "/proto", "github.com/hashicorp/raft", "google.golang.org/grpc"}, "engines are deterministic and know nothing of raft, gRPC or HTTP"},
	{mod + "/broker/stream", append(except(engines, mod+"/broker/stream"), notEngine...), "engines are deterministic, know nothing of raft, gRPC or HTTP, and never import each other"},
	{mod + "/broker/topic", append(except(engines, mod+"/broker/topic"), notEngine...), "engines are deterministic, know nothing of raft, gRPC or HTTP, and never import each other"},
	{mod + "/broker/topic/filter", []string{mod + "/broker/", mod + "/storage", mod + "/proto", mod + "/client", "github.com/dgraph-io/", "github.com/hashicorp/", "github.com/klauspost/", "google.golang.org/", "golang.org/"}, "the filter language is pure: the standard library and the broker vocabulary"},
	{mod + "/broker/autoscale", []string{mod + "/broker/", mod + "/storage", mod + "/proto", mod + "/client", mod + "/cmd", mod + "/bench", mod + "/test",
		"github.com/dgraph-io/", "github.com/google/", "github.com/hashicorp/", "github.com/klauspost/", "github.com/prometheus/", "github.com/spf13/", "github.com/aws/",
		"go.uber.org/", "google.golang.org/", "golang.org/"}, "autoscaling decisions are pure: the standard library and the broker vocabulary"},
	{mod + "/broker/fanout", append(except(engines, mod+"/broker/topic"), notEngine...), "the fan-out worker reaches the broker through its Partition and Sinks interfaces (it may use the topic engine's types)"},
	{mod + "/broker/trigger", append(append([]string{}, engines...), notEngine...), "trigger pollers and invokers reach the broker through their QueueSource and StreamSource interfaces"},
	{mod + "/broker/cluster", append(append([]string{}, engines...), mod+"/broker/apply", mod+"/broker/api", mod+"/broker/service", mod+"/broker/node"), "cluster never imports engines: node hands it an Applier"},
	{mod + "/broker/apply", []string{mod + "/broker/cluster", mod + "/broker/api", mod + "/broker/service", mod + "/broker/node", "github.com/hashicorp/raft", "google.golang.org/grpc"}, "apply is a stateless dispatcher below cluster"},
	{mod + "/broker/service", []string{mod + "/broker/cluster", mod + "/broker/api", mod + "/broker/node", "github.com/hashicorp/raft", "google.golang.org/grpc"}, "the service is transport independent"},
	{mod + "/broker/api/...", []string{mod + "/broker/cluster", mod + "/broker/node", "github.com/hashicorp/raft"}, "API layers are thin and talk to the service, never to raft"},
	{mod + "/broker/api/awsapi", append(append([]string{mod + "/broker/service", mod + "/broker/node", mod + "/broker/cluster", mod + "/broker/apply",
		mod + "/broker/fanout", mod + "/storage", "github.com/hashicorp/raft", "github.com/dgraph-io/badger"}, engines...), mod+"/broker/api/grpcapi"),
		"the AWS APIs talk to the node only through gRPC clients and the proto (they may use the broker vocabulary: constants, MD5)"},
	{mod + "/broker/api/console", append(append([]string{mod + "/broker/service", mod + "/broker/node", mod + "/broker/cluster", mod + "/broker/apply",
		mod + "/broker/fanout", mod + "/storage", "github.com/hashicorp/raft", "github.com/dgraph-io/badger"}, engines...), mod+"/broker/api/grpcapi"),
		"the web console talks to the node only through gRPC clients and the proto, as the AWS APIs do"},
	{mod + "/broker/auth", append(append([]string{mod + "/broker/node", mod + "/broker/service", mod + "/broker/cluster", mod + "/broker/api", mod + "/broker/apply",
		mod + "/storage", mod + "/proto", mod + "/client", "github.com/dgraph-io/", "github.com/hashicorp/", "github.com/prometheus/", "google.golang.org/", "golang.org/"}, engines...), mod+"/broker/trigger", mod+"/broker/fanout"),
		"authentication rules are pure: the standard library and the broker vocabulary; the edges (node, awsapi) apply them"},
	{mod + "/broker/quota", append(append([]string{mod + "/broker/node", mod + "/broker/service", mod + "/broker/cluster", mod + "/broker/api", mod + "/broker/apply",
		mod + "/broker/catalog", mod + "/broker/auth", mod + "/storage", mod + "/proto", mod + "/client", "github.com/dgraph-io/", "github.com/hashicorp/", "google.golang.org/grpc"}, engines...), mod+"/broker/trigger", mod+"/broker/fanout"),
		"token buckets and usage meters are pure: the standard library, the broker vocabulary and Prometheus; the node's edge applies them"},
	{mod + "/storage/...", []string{mod + "/broker", mod + "/client", mod + "/proto"}, "storage has no domain knowledge"},
	{mod + "/storage", []string{mod + "/broker", "github.com/hashicorp/raft"}, "the storage facade knows nothing of raft"},
	{mod + "/client/...", []string{mod + "/broker", mod + "/storage", "github.com/hashicorp/raft", "github.com/dgraph-io/badger"}, "SDK users must not pull in the server"},
	{mod + "/bench/...", []string{mod + "/broker", mod + "/storage", "github.com/hashicorp/raft", "github.com/dgraph-io/badger"}, "the load generator is a client"},
}

func matches(pattern, pkg string) bool {
	if p, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == p || strings.HasPrefix(pkg, p+"/")
	}
	return pkg == pattern
}

func denied(deny []string, dep string) bool {
	for _, d := range deny {
		if dep == d || strings.HasPrefix(dep, strings.TrimSuffix(d, "/")+"/") || (strings.HasSuffix(d, "/") && strings.HasPrefix(dep, d)) {
			return true
		}
	}
	return false
}

// TestDependencyDirection fails on a forbidden import (direct or transitive).
func TestDependencyDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps=false", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, mod+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, deps := f[0], f[1:]
		for _, r := range rules {
			if !matches(r.from, pkg) {
				continue
			}
			checked++
			for _, d := range deps {
				if d == pkg || strings.HasPrefix(d, pkg+"/") || strings.HasPrefix(d, mod+"/proto/") && strings.HasPrefix(pkg, mod+"/client") {
					continue
				}
				if denied(r.deny, d) && !(pkg == mod+"/broker" && !strings.Contains(d, ".")) {
					t.Errorf("%s imports %s: %s", pkg, d, r.why)
				}
			}
		}
	}
	if checked < 8 {
		t.Fatalf("only %d package/rule pairs checked; the rules no longer match the tree", checked)
	}
}

// TestNoDirectHTTPInEnginesAndService checks direct imports only: Badger
// pulls net/http in through expvar, so a transitive rule cannot hold.
func TestNoDirectHTTPInEnginesAndService(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`,
		mod+"/broker/queue", mod+"/broker/catalog", mod+"/broker/stream", mod+"/broker/topic", mod+"/broker/topic/filter", mod+"/broker/apply",
		mod+"/broker/service", mod+"/broker").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, d := range f[1:] {
			if d == "net/http" || d == "net" || strings.HasPrefix(d, "google.golang.org/grpc") {
				t.Errorf("%s imports %s directly: engines and the service are transport independent", f[0], d)
			}
		}
	}
}

// TestDependencyRuleCatches checks the checker on a known violation.
func TestDependencyRuleCatches(t *testing.T) {
	if !denied([]string{"github.com/hashicorp/raft"}, "github.com/hashicorp/raft") || denied([]string{mod + "/broker/queue"}, mod+"/broker/queuex") {
		t.Fatal("denied() is wrong")
	}
	if !matches(mod+"/client/...", mod+"/client/internal/x") || matches(mod+"/broker", mod+"/broker/queue") {
		t.Fatal("matches() is wrong")
	}
}
