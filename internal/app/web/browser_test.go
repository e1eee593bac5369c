package web

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/ordersaga/ordersaga/internal/testkit/teststack"
)

// within runs browser actions with a time limit.
func within(t *testing.T, ctx context.Context, d time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// run runs one browser action with a time limit and returns its value.
func run[T any](t *testing.T, ctx context.Context, d time.Duration, a chromedp.Action[T]) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	v, err := chromedp.Run(tctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	return run(t, ctx, 10*time.Second, chromedp.Evaluate[T](js))
}

// fill sets a form field, empty or not.
func fill(id, value string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(document.getElementById(%q).value = %q, true)`, id, value)
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](js)(ctx, tg)
		return err
	})
}

// rowStatus is the JavaScript that reads an order's status in the latest
// orders table, per engine.
func rowStatus(id string) string {
	return fmt.Sprintf(`(() => {
  const row = document.querySelector('tr[data-order=%q]');
  if (!row) return '';
  return ['orchestration', 'choreography'].map(m => row.querySelector('td[data-mode="' + m + '"]').textContent.trim()).join(' ');
})()`, id)
}

// TestBrowserPlacesAndWatches drives a real headless Chromium against the
// page on a real stack: it places an order with a payment decline through
// the form, watches both engines' rows turn COMPENSATED without a reload,
// then opens the order and reads both timelines.
func TestBrowserPlacesAndWatches(t *testing.T) {
	ctx := newBrowser(t, 1280, 900)
	st := startLiveStack(t, false)

	within(t, ctx, 30*time.Second, "open the page",
		chromedp.Navigate(st.URL),
		chromedp.WaitVisible(chromedp.CSS(`#place`)),
		chromedp.Poll[chromedp.Void](`document.getElementById('live').classList.contains('on')`, chromedp.WithPollingTimeout(20*time.Second)),
	)
	// A mark on the window: a reload would wipe it.
	eval[bool](t, ctx, `window.stillThisPage = true`)
	// The reservation waits a while, so the page shows the order running
	// before it shows it compensated.
	within(t, ctx, 10*time.Second, "fill and send the form",
		fill("items", "book:2 mug:1"),
		fill("faults", "inventory:delay:3s"),
		chromedp.Click(chromedp.CSS(`#place-decline`)),
		chromedp.Poll[chromedp.Void](`document.querySelector('#form-msg a')`, chromedp.WithPollingTimeout(10*time.Second)),
	)
	id := eval[string](t, ctx, `document.querySelector('#form-msg a').textContent`)
	if !strings.HasPrefix(id, "o-") {
		t.Fatalf("order ID %q", id)
	}

	var seen []string
	teststack.Eventually(t, 90*time.Second, 100*time.Millisecond, func() error {
		s := eval[string](t, ctx, rowStatus(id))
		if len(seen) == 0 || seen[len(seen)-1] != s {
			seen = append(seen, s)
		}
		if s != "COMPENSATED COMPENSATED" {
			return fmt.Errorf("the row of %s never turned COMPENSATED on both engines; it went %q", id, seen)
		}
		return nil
	})
	t.Logf("row of %s: %q", id, seen)
	if !eval[bool](t, ctx, `window.stillThisPage === true`) {
		t.Fatal("the page reloaded")
	}
	if !slices.ContainsFunc(seen, func(s string) bool { return strings.Contains(s, "PENDING") }) {
		t.Errorf("the row never showed the order running before it was compensated: %q", seen)
	}
	for _, mode := range []string{"orchestration", "choreography"} {
		n := eval[string](t, ctx, `document.querySelector('#engine-`+mode+` [data-count="compensated"]').textContent`)
		if n != "1" {
			t.Errorf("%s counts %s compensated, want 1", mode, n)
		}
	}

	within(t, ctx, 30*time.Second, "open the order",
		chromedp.Click(chromedp.CSS(`tr[data-order="`+id+`"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`#order[data-terminal="true"]`)),
	)
	orch := eval[string](t, ctx, `document.querySelector('section[data-mode="orchestration"]').innerText`)
	chor := eval[string](t, ctx, `document.querySelector('section[data-mode="choreography"]').innerText`)
	for _, want := range []string{"COMPENSATED", "WorkflowExecutionStarted", "PaymentDeclined", "release", "WorkflowExecutionCompleted"} {
		if !strings.Contains(orch, want) {
			t.Errorf("the orchestration timeline lacks %q:\n%s", want, orch)
		}
	}
	for _, want := range []string{"COMPENSATED", "OrderPlaced", "InventoryReserved", "PaymentDeclined", "InventoryReleased", "OrderCompensated"} {
		if !strings.Contains(chor, want) {
			t.Errorf("the choreography timeline lacks %q:\n%s", want, chor)
		}
	}
	// Side by side on a wide screen.
	if !eval[bool](t, ctx, `(() => {
  const [a, b] = document.querySelectorAll('section.timeline');
  return a.getBoundingClientRect().top === b.getBoundingClientRect().top && a.getBoundingClientRect().right <= b.getBoundingClientRect().left;
})()`) {
		t.Error("the two timelines are not side by side")
	}
}

// TestBrowserWithoutScript: with JavaScript off, the page is there at
// first paint and the form places an order by a plain post.
func TestBrowserWithoutScript(t *testing.T) {
	ctx := newBrowser(t, 390, 844)
	st := startLiveStack(t, false)
	within(t, ctx, 30*time.Second, "open the page without scripts",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}),
		chromedp.Navigate(st.URL),
		chromedp.WaitVisible(chromedp.CSS(`#place`)),
	)
	// Narrow screen: nothing sticks out sideways.
	if wide := eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth`); wide {
		t.Errorf("the page is wider than a %dpx screen", 390)
	}
	within(t, ctx, 30*time.Second, "post the form",
		fill("items", "pen:3"),
		chromedp.Click(chromedp.CSS(`#place-order`)),
		chromedp.WaitVisible(chromedp.CSS(`#form-msg a`)),
	)
	url := eval[string](t, ctx, `location.href`)
	id := eval[string](t, ctx, `document.querySelector('#form-msg a').textContent`)
	if !strings.Contains(url, "placed="+id) {
		t.Fatalf("after the post: %s, message names %q", url, id)
	}
	if eval[string](t, ctx, rowStatus(id)) == "" {
		t.Errorf("the order %s is not in the latest orders", id)
	}
	if live := eval[string](t, ctx, `document.getElementById('live').className`); live != "dot" {
		t.Errorf("scripts ran: the live dot is %q", live)
	}
}
