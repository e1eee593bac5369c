package workflows

// MarkdownText, PlainText and Notifies are markdownText, plainText and
// notifies, for tests.
var (
	MarkdownText = markdownText
	PlainText    = plainText
	Notifies     = notifies
)

// CurrentVersion is the version of OrderSaga new workflows run.
const CurrentVersion = int(versionLatest)

// LocalModeVersion is the first version with the local-activity mode.
const LocalModeVersion = int(versionCancelAnywhere)
