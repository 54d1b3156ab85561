package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	messengerv1 "github.com/mmelink/operator/api/v1alpha1"
)

// inputsHash is a digest of everything the rendered content depends on. It is cheap: no rendering.
func (o *configMapContent) inputsHash() string {
	h := sha256.New()
	w := func(s string) { _, _ = fmt.Fprintf(h, "%d:%s;", len(s), s) } // a hash never fails to write
	w(renderVersion)
	w(o.URL)
	w(strconv.Itoa(o.QR.GetSize()))
	w(o.QR.GetErrorCorrection())
	w(strconv.Itoa(o.QR.GetQuietZone()))
	w(strconv.FormatBool(o.QR.Wants(messengerv1.QRFormatPNG)))
	w(strconv.FormatBool(o.QR.Wants(messengerv1.QRFormatSVG)))
	if s := o.Snippet; s != nil {
		w(s.AppID)
		w(s.PageID)
		w(s.Ref)
		w(s.Source)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// contentHash is a digest of a ConfigMap's data, used to notice a person's edit without rendering.
func contentHash(cm *corev1.ConfigMap) string {
	h := sha256.New()
	keys := make([]string, 0, len(cm.Data)+len(cm.BinaryData))
	for k := range cm.Data {
		keys = append(keys, "d/"+k)
	}
	for k := range cm.BinaryData {
		keys = append(keys, "b/"+k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var v []byte
		if k[0] == 'd' {
			v = []byte(cm.Data[k[2:]])
		} else {
			v = cm.BinaryData[k[2:]]
		}
		_, _ = fmt.Fprintf(h, "%d:%s;%d:", len(k), k, len(v))
		h.Write(v)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
