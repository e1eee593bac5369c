package workflows

// MarkdownText and PlainText are markdownText and plainText, for tests.
var (
	MarkdownText = markdownText
	PlainText    = plainText
)
