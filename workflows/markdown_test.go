package workflows_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/renderer/html"

	"github.com/ordersaga/ordersaga/shop"
	"github.com/ordersaga/ordersaga/workflows"
)

// hostile is text an order may carry when its workflow is started without
// the engine's validation: HTML, links, images, code and a line break.
var hostile = []string{
	"<img src=x onerror=alert(1)>",
	"[x](javascript:alert(1))",
	"![y](javascript:alert(2))",
	"<javascript:alert(3)>",
	"`code` *em* _em_ | cell",
	"a\n# heading\r\n<script>alert(4)</script>",
	`\<b>`,
}

// renderMarkdown renders md as a permissive markdown renderer would: raw
// HTML passed through, GitHub tables and bare links.
func renderMarkdown(t *testing.T, md string) string {
	t.Helper()
	var out bytes.Buffer
	r := goldmark.New(goldmark.WithExtensions(extension.GFM), goldmark.WithRendererOptions(html.WithUnsafe()))
	if err := r.Convert([]byte(md), &out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// wantNoMarkup fails when the rendered markdown holds an element the text
// could have brought.
func wantNoMarkup(t *testing.T, what, rendered string) {
	t.Helper()
	for _, el := range []string{"<img", "<a ", "<script", "<h1", "<code", "<em", "<b>"} {
		if strings.Contains(rendered, el) {
			t.Errorf("%s renders %s:\n%s", what, el, rendered)
		}
	}
}

// TestMarkdownEscaped: what the Temporal UI shows as markdown renders any
// text from the order as text, never as an element or a link.
func TestMarkdownEscaped(t *testing.T) {
	for _, s := range hostile {
		md := workflows.MarkdownText(s)
		got := renderMarkdown(t, md)
		wantNoMarkup(t, "text "+s, got)
		if strings.ContainsAny(md, "\n\r") {
			t.Errorf("a line break survives in %q", md)
		}
		if want := strings.NewReplacer("\r", " ", "\n", " ").Replace(s); workflows.PlainText(md) != want {
			t.Errorf("PlainText(MarkdownText(%q)) = %q", s, workflows.PlainText(md))
		}
	}
	if got := renderMarkdown(t, workflows.MarkdownText(hostile[0])); !strings.Contains(got, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Errorf("the text is not shown as written: %s", got)
	}
	c := shop.DefaultCatalog()
	for _, s := range hostile {
		o := shop.Order{ID: s, Customer: s, Items: []shop.Item{{SKU: "book", Quantity: 1}, {SKU: s, Quantity: 2}}}
		// The details' one code span is the repair command.
		d := strings.Replace(renderMarkdown(t, workflows.StaticDetails(o, c)), "<code>starter repair ORDER_ID</code>", "", 1)
		wantNoMarkup(t, "the static details of "+s, d)
		wantNoMarkup(t, "the static summary of "+s, renderMarkdown(t, workflows.StaticSummary(o, c)))
	}
	// Plain orders read as before.
	o := shop.Order{ID: "o-1", Customer: "Zoë O'Brien", Items: []shop.Item{{SKU: "book", Quantity: 2}}}
	if d := workflows.StaticDetails(o, c); !strings.Contains(d, "**Order** o-1 for Zoë O'Brien") || !strings.Contains(d, "`starter repair o-1`") {
		t.Errorf("static details of a plain order:\n%s", d)
	}
}
