package workflows

// MarkdownText and PlainText are markdownText and plainText, for tests.
var (
	MarkdownText = markdownText
	PlainText    = plainText
)

// CurrentVersion is the version of OrderSaga new workflows run.
const CurrentVersion = int(versionLatest)

// LocalModeVersion is the first version with the local-activity mode.
const LocalModeVersion = int(versionCancelAnywhere)
