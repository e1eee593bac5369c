package web

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ordersaga/ordersaga/choreography"
	"github.com/ordersaga/ordersaga/internal/testkit/testenv"
	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// TestScreenshots takes the README's pictures the way a user sees them:
// the live page after a few orders (one compensated, one still running),
// an order's two timelines, the page on a phone, and the Temporal Web UI
// on the compensated order's workflow, and the page again once the shop
// has been quiet for a while (every service still live). It runs only when
// ORDERSAGA_SCREENSHOTS names the folder to write to:
//
//	ORDERSAGA_SCREENSHOTS=$PWD/docs/img go test -run TestScreenshots -v ./internal/app/web
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("ORDERSAGA_SCREENSHOTS")
	if dir == "" {
		t.Skip("set ORDERSAGA_SCREENSHOTS=DIR to take the README's screenshots")
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(testenv.RepoRoot(), dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	st := startLiveStack(t, true)
	ctx := newBrowser(t, 1360, 1000)
	within(t, ctx, 30*time.Second, "open the page",
		chromedp.Navigate(st.URL),
		chromedp.Poll[chromedp.Void](`document.getElementById('live').classList.contains('on')`, chromedp.WithPollingTimeout(20*time.Second)),
	)
	place := func(items, faults string, decline bool) string {
		t.Helper()
		button := `#place-order`
		if decline {
			button = `#place-decline`
		}
		eval[bool](t, ctx, `(() => { const m = document.getElementById('form-msg'); m.textContent = ''; return true })()`)
		within(t, ctx, 20*time.Second, "place "+items+" "+faults,
			fill("items", items),
			fill("faults", faults),
			chromedp.Click(chromedp.CSS(button)),
			chromedp.Poll[chromedp.Void](`document.querySelector('#form-msg a')`, chromedp.WithPollingTimeout(15*time.Second)),
		)
		return eval[string](t, ctx, `document.querySelector('#form-msg a').textContent`)
	}
	first := place("book:1", "", false)
	place("mug:2 pen:5", "payment:transient:2", false)
	compensated := place("lamp:1", "", true)
	place("book:1 poster:1", "shipping:delay:15s", false)
	place("pen:1", "", false)
	fraud := place("mug:1", "fraud", false)
	within(t, ctx, 60*time.Second, "wait for the compensated order",
		chromedp.Poll[chromedp.Void](rowStatus(compensated)+` === 'COMPENSATED COMPENSATED'`, chromedp.WithPollingTimeout(55*time.Second)),
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('#orders .s-completed').length >= 6`, chromedp.WithPollingTimeout(55*time.Second)),
	)
	// The cursor away from the buttons, the message as a user sees it.
	time.Sleep(1500 * time.Millisecond)
	shoot(t, ctx, dir, "live-page.png")

	within(t, ctx, 30*time.Second, "open the compensated order",
		chromedp.Navigate(st.URL+"/orders/"+compensated),
		chromedp.WaitVisible(chromedp.CSS(`#order[data-terminal="true"]`)),
	)
	shoot(t, ctx, dir, "order-timelines.png")

	within(t, ctx, 60*time.Second, "open the order the fraud check refused",
		chromedp.Navigate(st.URL+"/orders/"+fraud),
		chromedp.WaitVisible(chromedp.CSS(`#order[data-terminal="true"]`)),
	)
	if text := eval[string](t, ctx, `document.body.innerText`); !strings.Contains(text, "FraudSuspected") {
		t.Errorf("the page of the order the fraud check refused does not say FraudSuspected:\n%s", text)
	}
	shoot(t, ctx, dir, "order-fraud.png")

	phone := newBrowser(t, 390, 844)
	within(t, phone, 30*time.Second, "open the page on a phone",
		chromedp.Navigate(st.URL),
		chromedp.Poll[chromedp.Void](`document.getElementById('live').classList.contains('on')`, chromedp.WithPollingTimeout(20*time.Second)),
	)
	shoot(t, phone, dir, "live-page-phone.png")

	ui := st.UIURL + "/namespaces/default/workflows/order-" + compensated
	within(t, ctx, 60*time.Second, "open the workflow in the Temporal UI",
		chromedp.Navigate(ui),
		chromedp.Poll[chromedp.Void](`document.body.innerText.includes('order-`+compensated+`') && document.body.innerText.includes('Completed') && document.body.innerText.includes('Release')`,
			chromedp.WithPollingTimeout(50*time.Second)),
	)
	time.Sleep(2 * time.Second) // let the event history finish drawing
	if text := eval[string](t, ctx, `document.body.innerText`); !strings.Contains(text, "Charge") {
		t.Errorf("the workflow page does not show the Charge activity:\n%s", text)
	}
	shoot(t, ctx, dir, "temporal-ui-compensated.png")

	shootCompensatedList(t, ctx, st, dir, compensated, first)
	shootQuietPage(t, ctx, st, dir)
}

// shootCompensatedList shoots the Temporal UI's workflow list as the
// starter's link opens it: filtered by OrderStatus.
func shootCompensatedList(t *testing.T, ctx context.Context, st *liveStack, dir, compensated, other string) {
	within(t, ctx, 60*time.Second, "open the list of compensated orders",
		chromedp.Navigate(workflows.ListURL(st.UIURL, "default", workflows.StatusQuery(shop.StatusCompensated))),
		chromedp.Poll[chromedp.Void](`document.body.innerText.includes('order-`+compensated+`') && !document.body.innerText.includes('order-`+other+`')`,
			chromedp.WithPollingTimeout(50*time.Second)),
	)
	time.Sleep(time.Second)
	shoot(t, ctx, dir, "temporal-ui-list-compensated.png")
}

// shootQuietPage shoots the page once every order has ended and the shop
// has been quiet for quietFor: every service still live.
func shootQuietPage(t *testing.T, ctx context.Context, st *liveStack, dir string) {
	within(t, ctx, 60*time.Second, "wait for every order to end",
		chromedp.Navigate(st.URL),
		chromedp.Poll[chromedp.Void](`document.getElementById('live').classList.contains('on') && document.querySelectorAll('#orders .s-pending').length === 0`,
			chromedp.WithPollingTimeout(55*time.Second)),
	)
	time.Sleep(quietFor)
	within(t, ctx, 10*time.Second, "every service live after "+quietFor.String()+" quiet",
		chromedp.Poll[chromedp.Void](`document.querySelectorAll('table.services .s-completed').length === `+strconv.Itoa(len(choreography.Services)), chromedp.WithPollingTimeout(5*time.Second)),
	)
	shoot(t, ctx, dir, "live-page-quiet.png")
}

func shoot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png := run(t, ctx, 30*time.Second, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d KB)", filepath.Join(dir, name), len(png)/1024)
}
