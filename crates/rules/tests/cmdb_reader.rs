//! The CMDB reader on files: the CSV costpilot's generator writes (plain, gzip, and as a
//! spreadsheet saves it), the stored JSON form read back, and errors naming the file.

#[path = "../../ingest/tests/common/mod.rs"]
mod common;

use common::{write, write_gz};

use costpilot_rules::cmdb::{Cmdb, CmdbEntry, CmdbKind};

const GENERATED: &str = "\
kind,id,owner,team,business_unit,cost_centre,application,environment,criticality
account,540455323275,genai-lead@example.com,genai,Data & AI,CC-1200,support-assistant,prod,medium
account,111122223333,web-lead@example.com,web,Digital,CC-1300,storefront,staging,high
resource,i-0abc123,ml-platform-lead@example.com,ml-platform,Data & AI,CC-1200,training-platform,prod,low
";

fn value<'a>(entry: &'a CmdbEntry, dimension: &str) -> &'a str {
    entry.values.get(dimension).map_or("", String::as_str)
}

#[test]
fn reads_the_generated_csv_plain_and_gzipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = Cmdb::read(&write(dir.path(), "cmdb.csv", GENERATED.as_bytes())).expect("csv");
    let gzipped = Cmdb::read(&write_gz(dir.path(), "cmdb.csv.gz", GENERATED)).expect("csv.gz");
    assert_eq!(plain.entries(), gzipped.entries());
    assert_eq!(plain.counts(), (2, 1));
    assert_eq!(
        plain.columns(),
        ["owner", "team", "business_unit", "cost_centre", "application", "environment", "criticality"]
    );
    let web = plain.account("111122223333").expect("web account");
    assert_eq!((web.row, value(web, "team"), value(web, "environment")), (2, "web", "staging"));
    let instance = plain.resource("i-0abc123").expect("instance");
    assert_eq!((instance.kind, value(instance, "application")), (CmdbKind::Resource, "training-platform"));
}

#[test]
fn reads_a_spreadsheet_export_with_bom_crlf_and_other_spellings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "\u{feff}Kind,ID,Owner Email,Cost Center,BU,Env\r\n\
                ACCOUNT, 540455323275 ,a@example.com,CC-1200,,prod\r\n";
    let cmdb = Cmdb::read(&write(dir.path(), "Owners.CSV", text.as_bytes())).expect("csv");
    assert_eq!(cmdb.columns(), ["owner", "cost_centre", "business_unit", "environment"]);
    let entry = cmdb.account("540455323275").expect("account");
    assert_eq!(entry.values.len(), 3);
    assert_eq!((value(entry, "cost_centre"), value(entry, "business_unit")), ("CC-1200", ""));
}

#[test]
fn the_stored_json_reads_back_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cmdb = Cmdb::read(&write(dir.path(), "cmdb.csv", GENERATED.as_bytes())).expect("csv");
    let stored = write(dir.path(), "cmdb.json", cmdb.to_json().as_bytes());
    let back = Cmdb::read(&stored).expect("json");
    assert_eq!(back.path(), stored);
    assert_eq!(back.columns(), cmdb.columns());
    let strip = |c: &Cmdb| {
        c.entries().into_iter().map(|e| (e.kind, e.id.clone(), e.values.clone())).collect::<Vec<_>>()
    };
    assert_eq!(strip(&back), strip(&cmdb));
    assert_eq!(back.to_json(), cmdb.to_json());
}

#[test]
fn errors_name_the_file_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = write(dir.path(), "cmdb.csv", b"kind,id,team\naccount,1,genai\nvm,2,web\n");
    let err = Cmdb::read(&bad).expect_err("bad kind");
    assert_eq!(
        err.to_string(),
        format!("{}:3:1: row 2, column 'kind': 'vm' is not account or resource", bad.display())
    );

    let empty = write(dir.path(), "empty.csv", b"");
    let err = Cmdb::read(&empty).expect_err("empty");
    assert_eq!(
        err.to_string(),
        format!("{}: empty file: expected a header row with kind and id", empty.display())
    );

    let not_gzip = write(dir.path(), "cmdb.csv.gz", GENERATED.as_bytes());
    let err = Cmdb::read(&not_gzip).expect_err("not gzip");
    assert_eq!((err.path, err.line), (not_gzip, None));
}
