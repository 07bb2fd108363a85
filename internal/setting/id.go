package setting

// ID is a setting of the daemon, by a stable identity that does not depend on how the operator sets it. main.go's
// settings table has exactly one row per ID (its flag, variables, default, parsing, destination, start-line key and
// doctor's summary), and is the only place that turns an ID into a variable name. The packages name a setting by
// its ID: its neutral word in a text (String), an *Error for a configuration error.
type ID uint8

// The settings. The zero ID is none.
const (
	URL ID = iota + 1 // CATTLE_URL
	AccessKey
	SecretKey
	AWSAccessKeyID // the AWS SDK reads the AWS keys itself; main.go reads them too (files, checks, scrubber)
	AWSSecretKey
	AWSSessionToken
	Region
	RoleARN
	RegistryIDs
	Regions
	AutoCreate
	Interval
	DryRun
	Discover
	Events
	LogLevel
	LogFormat
	ListenPort
	RancherTimeout
	ECRTimeout
	CACert
	InsecureSkipVerify
	Environments
	Concurrency
	HTTPSProxy // net/http reads the proxies itself; main.go reads them for files and the scrubber
	HTTPProxy

	// NumIDs is one past the last ID.
	NumIDs
)
