package controllers

import (
	"errors"
	"fmt"
	"html"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
	"github.com/mmelink/operator/internal/qr"
)

const (
	// InputsHashAnnotation records what the content was rendered from, so that a restart does not render
	// every QR code again: when the inputs and the content are both unchanged, nothing is rendered.
	InputsHashAnnotation = "messenger.mmelink.io/inputs-hash"

	// renderVersion changes whenever the rendering code changes its output, so old ConfigMaps are redone.
	renderVersion = "1"
)

// errRender marks failures to draw the QR code, such as a link too long for the chosen error-correction
// level. Only a change of the spec fixes them.
var errRender = errors.New("cannot render the QR code")

// configMapContent is what a link or topic puts into its ConfigMap: its URL, QR codes and snippet, under
// the keys of the API (messengerv1.ConfigMapKey*), since users mount them.
type configMapContent struct {
	// Kind of the resource, for metrics.
	Kind string
	URL  string
	QR   *messengerv1.QRSpec
	// Snippet, when set, is written as send-to-messenger.html.
	Snippet *snippet
}

// snippet holds the inputs of the Send-to-Messenger plugin snippet.
type snippet struct {
	AppID  string
	PageID string
	Ref    string
	Source string // namespace/name, for the comment that says where the snippet came from
}

// render produces the ConfigMap data. It is the expensive step (QR encoding), done only when needed.
func (o *configMapContent) render() (data map[string]string, binary map[string][]byte, err error) {
	renders.WithLabelValues(o.Kind).Inc()
	level, err := qr.ParseLevel(o.QR.GetErrorCorrection())
	if err != nil {
		return nil, nil, fmt.Errorf("%w: qr.errorCorrection: %w", errRender, err)
	}
	code, err := qr.Encode(o.URL, qr.Options{Size: o.QR.GetSize(), Level: level, QuietZone: o.QR.GetQuietZone()})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errRender, err)
	}
	data = map[string]string{messengerv1.ConfigMapKeyURL: o.URL}
	if o.QR.Wants(messengerv1.QRFormatSVG) {
		data[messengerv1.ConfigMapKeyQRSVG] = string(code.SVG())
	}
	if o.QR.Wants(messengerv1.QRFormatPNG) {
		png, err := code.PNG()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: PNG: %w", errRender, err)
		}
		binary = map[string][]byte{messengerv1.ConfigMapKeyQRPNG: png}
	}
	if o.Snippet != nil {
		data[messengerv1.ConfigMapKeySnippet] = o.Snippet.html(o.URL)
	}
	return data, binary, nil
}

// html is the Send-to-Messenger plugin markup. The plugin needs Meta's JavaScript SDK on the page; the
// link inside noscript keeps the snippet useful without it.
func (s *snippet) html(url string) string {
	e := html.EscapeString
	app := ""
	if s.AppID != "" {
		app = ` messenger_app_id="` + e(s.AppID) + `"`
	}
	ref := ""
	if s.Ref != "" {
		ref = ` data-ref="` + e(s.Ref) + `"`
	}
	return "<!-- Send to Messenger, written by mmelink for MessengerLink " + e(s.Source) +
		". Load Meta's JavaScript SDK once on the page for the plugin to render. -->\n" +
		`<div class="fb-send-to-messenger"` + app + ` page_id="` + e(s.PageID) + `"` + ref +
		` color="blue" size="large"></div>` + "\n" +
		`<noscript><a href="` + e(url) + `">Message us on Messenger</a></noscript>` + "\n"
}
