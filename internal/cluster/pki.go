package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// pki is the cluster's one CA, and what it signs: the API server's serving certificate, the admin client
// certificate every component and the test use (system:masters: the operator's own RBAC is exercised by
// its ServiceAccounts' tokens, not by these), and the ServiceAccount token signing key.
type pki struct {
	dir      string
	ca       *x509.Certificate
	caKey    *ecdsa.PrivateKey
	CA       string // PEM file paths
	APIcert  string
	APIkey   string
	Admin    string
	AdminKey string
	SAkey    string
	SApub    string
}

func newPKI(dir string, ips []net.IP) (*pki, error) {
	p := &pki{dir: dir}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var err error
	if p.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mmelink-test-cluster-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		return nil, err
	}
	if p.ca, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	if p.CA, err = p.writeCert("ca", der); err != nil {
		return nil, err
	}
	if _, err := p.writeKey("ca", p.caKey); err != nil {
		return nil, err
	}
	if p.APIcert, p.APIkey, err = p.issue("apiserver", pkix.Name{CommonName: "kube-apiserver"}, ips,
		[]string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"},
		x509.ExtKeyUsageServerAuth); err != nil {
		return nil, err
	}
	if p.Admin, p.AdminKey, err = p.issue("admin", pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		nil, nil, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, err
	}
	sa, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if p.SAkey, err = p.writeKey("sa", sa); err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err != nil {
		return nil, err
	}
	p.SApub = filepath.Join(dir, "sa.pub")
	return p, os.WriteFile(p.SApub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600)
}

var serial int64 = 1

func (p *pki) issue(name string, subj pkix.Name, ips []net.IP, dns []string, usage x509.ExtKeyUsage) (cert, key string, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: subj, IPAddresses: ips, DNSNames: dns,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &k.PublicKey, p.caKey)
	if err != nil {
		return "", "", fmt.Errorf("signing the %s certificate: %w", name, err)
	}
	if cert, err = p.writeCert(name, der); err != nil {
		return "", "", err
	}
	key, err = p.writeKey(name, k)
	return cert, key, err
}

func (p *pki) writeCert(name string, der []byte) (string, error) {
	path := filepath.Join(p.dir, name+".crt")
	return path, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
}

func (p *pki) writeKey(name string, k *ecdsa.PrivateKey) (string, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return "", err
	}
	path := filepath.Join(p.dir, name+".key")
	return path, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}
