package preview

// The JSON the page reads, for the package's external tests to decode.
type (
	Response = apiResponse
	Reader   = apiReader
	Brief    = apiBrief
)
