// SigV4 against the signatures AWS publishes for exactly these requests.
//
// [S3]  "Signature Calculations for the Authorization Header: Transferring
//       Payload in a Single Chunk (AWS Signature Version 4)", section
//       "Examples: Signature Calculations" (Amazon S3 API Reference,
//       https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html):
//       access key AKIAIOSFODNN7EXAMPLE, secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY,
//       bucket examplebucket, us-east-1, 20130524T000000Z. Four examples: GET Object
//       (Range), PUT Object, GET Bucket Lifecycle, Get Bucket (List Objects). The
//       canonical-request hashes are the last lines of the documented StringToSign.
// [IAM] "Create a signed AWS API request" (IAM User Guide,
//       https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html;
//       formerly "Signature Version 4 signing process" in the General Reference):
//       GET https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08,
//       AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20150830T123600Z.
#include "storage/blob/sigv4.h"

#include <gtest/gtest.h>

#include "crypto/sha256.h"

namespace modelhub {
namespace {

const SigV4Credentials kS3Creds{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
constexpr const char* kS3Date = "20130524T000000Z";
constexpr const char* kS3Host = "examplebucket.s3.amazonaws.com";

std::string LastLine(const std::string& s) { return s.substr(s.rfind('\n') + 1); }

// [S3] Example: GET Object, the first 10 bytes of test.txt.
TEST(SigV4, S3GetObjectWithRange) {
  SigV4Request r{"GET", "/test.txt", {},
                 {{"Host", kS3Host}, {"Range", "bytes=0-9"}, {"x-amz-content-sha256", std::string(kEmptyPayloadSha256)},
                  {"x-amz-date", kS3Date}},
                 std::string(kEmptyPayloadSha256)};
  SigV4Signature s = SigV4Sign(kS3Creds, "us-east-1", "s3", kS3Date, r);
  EXPECT_EQ(s.canonical_request,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(s.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

// [S3] Example: PUT Object "test$file.text" with a storage class and a signed body.
TEST(SigV4, S3PutObject) {
  std::string payload = Sha256Hex("Welcome to Amazon S3.");
  ASSERT_EQ(payload, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  // The key's '$' is percent-encoded in the path, as the client sends it.
  SigV4Request r{"PUT", "/test%24file.text", {},
                 {{"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"Host", kS3Host}, {"x-amz-content-sha256", payload},
                  {"x-amz-date", kS3Date}, {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
                 payload};
  SigV4Signature s = SigV4Sign(kS3Creds, "us-east-1", "s3", kS3Date, r);
  EXPECT_EQ(s.signed_headers, "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
  EXPECT_EQ(LastLine(s.string_to_sign), "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
  EXPECT_EQ(s.signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

// [S3] Example: GET Bucket Lifecycle: a sub-resource without a value signs as "lifecycle=".
TEST(SigV4, S3GetBucketLifecycle) {
  SigV4Request r{"GET", "/", {{"lifecycle", ""}},
                 {{"Host", kS3Host}, {"x-amz-content-sha256", std::string(kEmptyPayloadSha256)}, {"x-amz-date", kS3Date}},
                 std::string(kEmptyPayloadSha256)};
  SigV4Signature s = SigV4Sign(kS3Creds, "us-east-1", "s3", kS3Date, r);
  EXPECT_NE(s.canonical_request.find("GET\n/\nlifecycle=\n"), std::string::npos);
  EXPECT_EQ(LastLine(s.string_to_sign), "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca");
  EXPECT_EQ(s.signature, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

// [S3] Example: Get Bucket (List Objects), max-keys=2&prefix=J; given unsorted here.
TEST(SigV4, S3ListObjects) {
  SigV4Request r{"GET", "/", {{"prefix", "J"}, {"max-keys", "2"}},
                 {{"x-amz-date", kS3Date}, {"x-amz-content-sha256", std::string(kEmptyPayloadSha256)}, {"Host", kS3Host}},
                 std::string(kEmptyPayloadSha256)};
  SigV4Signature s = SigV4Sign(kS3Creds, "us-east-1", "s3", kS3Date, r);
  EXPECT_NE(s.canonical_request.find("GET\n/\nmax-keys=2&prefix=J\n"), std::string::npos);
  EXPECT_EQ(LastLine(s.string_to_sign), "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7");
  EXPECT_EQ(s.signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

// [IAM] The general example: another service, a content-type header with inner spaces.
TEST(SigV4, IamListUsers) {
  SigV4Credentials creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
  SigV4Request r{"GET", "/", {{"Action", "ListUsers"}, {"Version", "2010-05-08"}},
                 {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                  {"Host", "iam.amazonaws.com"},
                  {"X-Amz-Date", "20150830T123600Z"}},
                 std::string(kEmptyPayloadSha256)};
  SigV4Signature s = SigV4Sign(creds, "us-east-1", "iam", "20150830T123600Z", r);
  EXPECT_EQ(LastLine(s.string_to_sign), "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
  EXPECT_EQ(s.signature, "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

TEST(SigV4, CanonicalQueryEncodesAndSorts) {
  EXPECT_EQ(SigV4CanonicalQuery({}), "");
  // Encoded with upper-case hex, '/' and '=' too, spaces as %20; sorted by encoded name.
  EXPECT_EQ(SigV4CanonicalQuery({{"prefix", "a/b c"}, {"continuation-token", "x+y=="}, {"uploads", ""}}),
            "continuation-token=x%2By%3D%3D&prefix=a%2Fb%20c&uploads=");
  EXPECT_EQ(SigV4CanonicalQuery({{"b", "2"}, {"B", "1"}, {"a", "~-._"}}), "B=1&a=~-._&b=2");
}

TEST(SigV4, HeaderValuesTrimmedAndRepeatedNamesJoined) {
  SigV4Request r{"GET", "/", {}, {{"X-A", "  one   two  "}, {"host", "h"}, {"x-a", "three"}}, "UNSIGNED-PAYLOAD"};
  SigV4Signature s = SigV4Sign(kS3Creds, "us-east-1", "s3", kS3Date, r);
  EXPECT_EQ(s.canonical_request, "GET\n/\n\nhost:h\nx-a:one two,three\n\nhost;x-a\nUNSIGNED-PAYLOAD");
}

TEST(SigV4, AmzDate) {
  EXPECT_EQ(AmzDate(1369353600), "20130524T000000Z");
  EXPECT_EQ(AmzDate(1440938160), "20150830T123600Z");
}

}  // namespace
}  // namespace modelhub
