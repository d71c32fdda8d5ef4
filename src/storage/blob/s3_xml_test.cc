#include "storage/blob/s3_xml.h"

#include <gtest/gtest.h>

namespace modelhub {
namespace {

TEST(Xml, ParsesElementsTextEntitiesAndCdata) {
  auto r = ParseXml(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c -->"
      "<a:Root xmlns:a=\"urn:x\" k='v &amp; w'>\n  <Key>x &lt;y&gt; &#65;&#x42;&#x20AC;</Key>"
      "<Empty/><Empty2></Empty2><Data><![CDATA[<raw & stuff>]]></Data></a:Root>\n");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->name, "Root");
  ASSERT_EQ(r->children.size(), 4u);
  EXPECT_EQ(r->ChildText("Key"), "x <y> AB\xE2\x82\xAC");
  EXPECT_NE(r->Child("Empty"), nullptr);
  EXPECT_EQ(r->ChildText("Empty2"), "");
  EXPECT_EQ(r->ChildText("Data"), "<raw & stuff>");
  EXPECT_EQ(r->Child("Missing"), nullptr);
}

TEST(Xml, RejectsMalformedDocuments) {
  for (const char* doc : {"", "   ", "text", "<a>", "<a></b>", "<a></a><b></b>", "<a>&bogus;</a>", "<a>&#0;</a>",
                          "<a>&#xD800;</a>", "<a>&#x110000;</a>", "<a>&amp</a>", "<!DOCTYPE a><a/>",
                          "<a x=1></a>", "<a x='1'y='2'/>", "<a><![CDATA[x</a>", "<a>x</a>trailing", "<1a/>",
                          "<a x='<'/>", "</a>", "<a><!-- unterminated </a>"}) {
    EXPECT_FALSE(ParseXml(doc).ok()) << doc;
  }
}

TEST(Xml, DepthIsBounded) {
  std::string deep;
  for (int i = 0; i < kXmlMaxDepth; ++i) deep += "<a>";
  for (int i = 0; i < kXmlMaxDepth; ++i) deep += "</a>";
  EXPECT_TRUE(ParseXml(deep).ok());
  EXPECT_FALSE(ParseXml("<b>" + deep + "</b>").ok());
}

TEST(S3Xml, ListObjectsV2Page) {
  // The shape AWS and MinIO answer with encoding-type=url.
  const char* xml =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name><Prefix>p%2F</Prefix>"
      "<NextContinuationToken>tok/+=</NextContinuationToken><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
      "<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
      "<Contents><Key>p/a%20b+c</Key><LastModified>2026-01-01T00:00:00.000Z</LastModified>"
      "<ETag>&quot;abc&quot;</ETag><Size>11</Size><StorageClass>STANDARD</StorageClass></Contents>"
      "<Contents><Key>p/z</Key><Size>0</Size></Contents></ListBucketResult>";
  auto page = ParseS3ListObjectsV2(xml, true);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "p/a b c");
  EXPECT_EQ(page->objects[0].size, 11);
  EXPECT_EQ(page->objects[1].key, "p/z");
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_token, "tok/+=");

  auto last = ParseS3ListObjectsV2("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>", true);
  ASSERT_TRUE(last.ok());
  EXPECT_FALSE(last->truncated);
  EXPECT_TRUE(last->objects.empty());
}

TEST(S3Xml, ListObjectsV2RejectsWhatWouldMislead) {
  for (const char* xml : {
           "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",  // would loop forever
           "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
           "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
           "<ListBucketResult><Contents><Key>k</Key><Size>1x</Size></Contents></ListBucketResult>",
           "<ListBucketResult><Contents><Key>%zz</Key><Size>1</Size></Contents></ListBucketResult>",
           "<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
           "<Error><Code>AccessDenied</Code></Error>",
       }) {
    EXPECT_FALSE(ParseS3ListObjectsV2(xml, true).ok()) << xml;
  }
}

TEST(S3Xml, ListMultipartUploadsPage) {
  // The shape AWS answers with encoding-type=url (MinIO's is the same, with empty markers).
  const char* xml =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<ListMultipartUploadsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>b</Bucket>"
      "<KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><NextKeyMarker>p/x+y</NextKeyMarker>"
      "<NextUploadIdMarker>id-2</NextUploadIdMarker><EncodingType>url</EncodingType><Prefix>p/</Prefix>"
      "<MaxUploads>2</MaxUploads><IsTruncated>true</IsTruncated>"
      "<Upload><Key>p/a%20b</Key><UploadId>id-1</UploadId><Initiator><ID>x</ID><DisplayName>d</DisplayName>"
      "</Initiator><Owner><ID>x</ID></Owner><StorageClass>STANDARD</StorageClass>"
      "<Initiated>2026-07-14T04:23:58.085Z</Initiated></Upload>"
      "<Upload><Key>p/x+y</Key><UploadId> id-2 </UploadId><Initiated>1970-01-01T00:00:01Z</Initiated></Upload>"
      "<CommonPrefixes><Prefix>p/dir/</Prefix></CommonPrefixes></ListMultipartUploadsResult>";
  auto page = ParseS3ListMultipartUploads(xml, true);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->uploads.size(), 2u);
  EXPECT_EQ(page->uploads[0].key, "p/a b");
  EXPECT_EQ(page->uploads[0].upload_id, "id-1");
  EXPECT_EQ(page->uploads[0].initiated_ms, 1784003038085);
  EXPECT_EQ(page->uploads[1].key, "p/x y");  // '+' is a space in the form encoding S3 uses
  EXPECT_EQ(page->uploads[1].upload_id, "id-2");
  EXPECT_EQ(page->uploads[1].initiated_ms, 1000);
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_key_marker, "p/x y");  // decoded like the keys
  EXPECT_EQ(page->next_upload_id_marker, "id-2");

  auto raw = ParseS3ListMultipartUploads(xml, false);  // no encoding asked: keys as they are
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->uploads[0].key, "p/a%20b");

  auto last = ParseS3ListMultipartUploads(
      "<ListMultipartUploadsResult><NextKeyMarker></NextKeyMarker><IsTruncated>false</IsTruncated>"
      "</ListMultipartUploadsResult>",
      true);
  ASSERT_TRUE(last.ok());
  EXPECT_FALSE(last->truncated);
  EXPECT_TRUE(last->uploads.empty());
}

TEST(S3Xml, ListMultipartUploadsRejectsWhatWouldMislead) {
  const std::string ok_upload = "<Upload><Key>k</Key><UploadId>u</UploadId><Initiated>2026-01-01T00:00:00Z</Initiated></Upload>";
  for (const std::string& xml : std::vector<std::string>{
           // Would loop forever, or restart the listing from the top.
           "<ListMultipartUploadsResult><IsTruncated>true</IsTruncated></ListMultipartUploadsResult>",
           "<ListMultipartUploadsResult><IsTruncated>yes</IsTruncated><NextKeyMarker>k</NextKeyMarker>"
           "</ListMultipartUploadsResult>",
           "<ListMultipartUploadsResult><IsTruncated>true</IsTruncated><NextKeyMarker>%zz</NextKeyMarker>"
           "</ListMultipartUploadsResult>",
           // Uploads that could not be aborted, or whose age is unknown.
           "<ListMultipartUploadsResult><Upload><UploadId>u</UploadId><Initiated>2026-01-01T00:00:00Z</Initiated>"
           "</Upload></ListMultipartUploadsResult>",
           "<ListMultipartUploadsResult><Upload><Key>k</Key><Initiated>2026-01-01T00:00:00Z</Initiated></Upload>"
           "</ListMultipartUploadsResult>",
           "<ListMultipartUploadsResult><Upload><Key>k</Key><UploadId>u</UploadId></Upload></ListMultipartUploadsResult>",
           "<ListMultipartUploadsResult><Upload><Key>k</Key><UploadId>u</UploadId><Initiated>yesterday</Initiated>"
           "</Upload></ListMultipartUploadsResult>",
           "<ListMultipartUploadsResult><Upload><Key>k</Key><UploadId>u</UploadId>"
           "<Initiated>2026-01-01T00:00:00+02:00</Initiated></Upload></ListMultipartUploadsResult>",
           "<ListMultipartUploadsResult><Upload><Key>%zz</Key><UploadId>u</UploadId>"
           "<Initiated>2026-01-01T00:00:00Z</Initiated></Upload></ListMultipartUploadsResult>",
           "<ListMultipartUploadsResult>" + ok_upload + "<Upload><Key>k2</Key><UploadId>u</UploadId>"
           "<Initiated>bad</Initiated></Upload></ListMultipartUploadsResult>",
           "<ListBucketResult>" + ok_upload + "</ListBucketResult>",
           "<Error><Code>AccessDenied</Code></Error>",
       }) {
    EXPECT_FALSE(ParseS3ListMultipartUploads(xml, true).ok()) << xml;
  }
  EXPECT_TRUE(ParseS3ListMultipartUploads("<ListMultipartUploadsResult>" + ok_upload + "</ListMultipartUploadsResult>", true)
                  .ok());
}

TEST(S3Xml, MultipartDocumentsAndErrors) {
  auto id = ParseS3InitiateMultipartUpload(
      "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE</UploadId>"
      "</InitiateMultipartUploadResult>");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "VXBsb2FkIElE");
  EXPECT_FALSE(ParseS3InitiateMultipartUpload("<InitiateMultipartUploadResult/>").ok());

  S3ErrorInfo err;
  EXPECT_TRUE(ParseS3CompleteMultipartUpload(
                  "<CompleteMultipartUploadResult><ETag>\"x-2\"</ETag></CompleteMultipartUploadResult>", &err)
                  .ok());
  // A 200 that carries an error (S3 documents this for CompleteMultipartUpload).
  Status s = ParseS3CompleteMultipartUpload(
      "<?xml version=\"1.0\"?>\n\n<Error><Code>InternalError</Code><Message>We encountered an internal "
      "error.</Message></Error>",
      &err);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(err.code, "InternalError");
  EXPECT_FALSE(ParseS3CompleteMultipartUpload("", &err).ok());

  S3ErrorInfo e = ParseS3Error("<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>");
  EXPECT_EQ(e.code, "NoSuchKey");
  EXPECT_EQ(e.message, "gone");
  EXPECT_EQ(ParseS3Error("<html>502 Bad Gateway</html>").code, "");
  EXPECT_EQ(ParseS3Error("not xml").code, "");
}

}  // namespace
}  // namespace modelhub
