package upload

import (
	"cmp"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Config is where and how to upload, as camwire-recv's flags give it.
type Config struct {
	URL      string // s3://BUCKET/PREFIX
	Endpoint string // http(s)://host:port; "": $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS
	Region   string // "": $AWS_REGION, $AWS_DEFAULT_REGION, else us-east-1
	// CredentialsFile is an AWS shared credentials file ("" : the
	// default ~/.aws files); $AWS_ACCESS_KEY_ID and
	// $AWS_SECRET_ACCESS_KEY ($AWS_SESSION_TOKEN) come first, as in the
	// AWS tools. Profile: $AWS_PROFILE, else "default".
	CredentialsFile string
	Limit           int64 // bytes per second; 0: unlimited
	Delete          bool  // delete the local file once its object is confirmed
}

// parseURL splits s3://BUCKET/PREFIX.
func parseURL(s string) (bucket, prefix string, err error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return "", "", fmt.Errorf("%q is not s3://BUCKET/PREFIX", s)
	}
	return u.Host, strings.Trim(u.Path, "/"), nil
}

// client is the S3 client for c.
func (c Config) client() (*minio.Client, error) {
	ep := cmp.Or(c.Endpoint, os.Getenv("AWS_ENDPOINT_URL_S3"), os.Getenv("AWS_ENDPOINT_URL"), "https://s3.amazonaws.com")
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("endpoint %q is not http(s)://HOST[:PORT]", ep)
	}
	region := cmp.Or(c.Region, os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"), "us-east-1")
	return minio.New(u.Host, &minio.Options{Creds: c.credentials(), Secure: u.Scheme == "https", Region: region})
}

// credentials are the environment's, else the shared credentials file's
// (as the AWS CLI and SDKs look them up), else none (anonymous).
func (c Config) credentials() *credentials.Credentials {
	return credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{Filename: c.CredentialsFile, Profile: os.Getenv("AWS_PROFILE")},
	})
}

// ParseRate reads a bandwidth such as 500k, 2M or 1500000 (bytes per
// second; k, M, G are powers of 1000).
func ParseRate(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1e3, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "M"):
		mult, s = 1e6, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1e9, strings.TrimSuffix(s, "G")
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a rate in bytes per second, e.g. 500k or 2M", s)
	}
	return int64(n * float64(mult)), nil
}
