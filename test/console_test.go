package test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium returns the Chromium (or Chrome) binary to drive: $NIMBUS_CHROMIUM,
// else the first of the usual names on PATH ("" when there is none).
func chromium() string {
	if p := os.Getenv("NIMBUS_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestConsoleBrowser drives the web console in headless Chromium against
// a real node: open the queues page, go to a queue, send a message with
// the console's form, and see the queue's depth change on the page. It
// saves a screenshot to the test's artifact directory ($NIMBUS_ARTIFACTS,
// or go test's -artifacts directory); NIMBUS_UPDATE_DOCS=1 also writes it
// to docs/console.png, the README's picture.
//
// It needs Chromium (.ci/run installs Debian's package when it is root).
// Without one it skips, except under CI, where it fails.
func TestConsoleBrowser(t *testing.T) {
	bin := chromium()
	if bin == "" {
		msg := "\n!!!!!!!!\n!!! NO CHROMIUM: TestConsoleBrowser needs chromium (apt-get install -y chromium, or set NIMBUS_CHROMIUM)\n!!!!!!!!"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	e := startE2E(t)
	e.createQueue("orders-dlq", nil)
	e.createQueue("orders", map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:000000000000:orders-dlq","maxReceiveCount":5}`})
	for i := range 3 {
		e.send("orders", fmt.Sprintf(`{"order": %d}`, i+1))
	}
	base := "http://" + e.n.HTTPAddr() + "/console/"

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.WindowSize(1280, 1100))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run its sandbox as root
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancelBrowser()
	// The first Run starts the browser and must not carry a timeout (it
	// would stop the browser); later steps do.
	if err := chromedp.Do(bctx, chromedp.Navigate(base+"#/queues")); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	ctx, cancel := context.WithTimeout(bctx, 30*time.Second)
	defer cancel()
	link := chromedp.CSS(`a[href="#/queues/orders"]`)
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	step("open the queue from the queues page", chromedp.WaitVisible(link), chromedp.Click(link), chromedp.WaitVisible(chromedp.ID("send-body")))
	step("see the depth", textIs("#stat-visible", "3"))
	step("send with the form",
		chromedp.SetValue(chromedp.ID("send-body"), `{"order": 4, "from": "the console"}`),
		chromedp.Click(chromedp.ID("send-submit")),
		textHas("#send-result", "Sent message"))
	step("see the depth change", textIs("#stat-visible", "4"))
	if got := e.count("orders", "ApproximateNumberOfMessages"); got != 4 {
		t.Errorf("queue depth %d after the console's send, want 4", got)
	}

	// For the picture: a peek, and for the README's the rates too (the
	// metrics' second scrape, up to a poll later).
	step("peek", chromedp.Click(chromedp.ID("peek-submit")), chromedp.WaitVisible(chromedp.CSS(".msg")))
	updateDocs := os.Getenv("NIMBUS_UPDATE_DOCS") != ""
	if updateDocs {
		step("see the send rate", pollJS(`document.querySelector("#stat-send").textContent !== "—"`, "a send rate"))
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := os.Getenv("NIMBUS_ARTIFACTS")
	if dir == "" {
		dir = t.ArtifactDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "console.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
	if updateDocs {
		docs := filepath.Join("..", "docs")
		if err := os.MkdirAll(docs, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(docs, "console.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// textIs waits until the element's text is want.
func textIs(sel, want string) chromedp.Action[chromedp.Void] {
	return pollJS(fmt.Sprintf(`document.querySelector(%s)?.textContent === %s`, strconv.Quote(sel), strconv.Quote(want)), sel+" = "+want)
}

// textHas waits until the element's text contains want.
func textHas(sel, want string) chromedp.Action[chromedp.Void] {
	return pollJS(fmt.Sprintf(`(document.querySelector(%s)?.textContent || "").includes(%s)`, strconv.Quote(sel), strconv.Quote(want)), sel+" has "+want)
}

func pollJS(expr, what string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(10*time.Second))(ctx, t); err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		return nil
	})
}
