#!/usr/bin/env node
// Validates HAR files against the HAR 1.2 JSON schema (npm har-validator,
// which bundles har-schema). Usage: node validate.js FILE...
// Exits 0 when every file passes; otherwise prints each failing file with
// its schema errors and exits 1 (2 for a usage error).
'use strict'

const fs = require('fs')
const validator = require('har-validator')

async function check (file) {
  let doc
  try {
    let text = fs.readFileSync(file, 'utf8')
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1) // HAR readers must accept a BOM
    doc = JSON.parse(text)
  } catch (err) {
    return [`cannot read as JSON: ${err.message}`]
  }
  try {
    await validator.har(doc)
    return []
  } catch (err) {
    if (!Array.isArray(err.errors)) return [String(err && err.message ? err.message : err)]
    return err.errors.map((e) => `${e.dataPath || '(root)'} ${e.message}${e.params ? ' ' + JSON.stringify(e.params) : ''}`)
  }
}

async function main () {
  const files = process.argv.slice(2)
  if (files.length === 0) {
    console.error('usage: node validate.js FILE.har...')
    process.exit(2)
  }
  let failed = 0
  for (const file of files) {
    const errors = await check(file)
    if (errors.length === 0) {
      console.log(`ok   ${file}`)
      continue
    }
    failed++
    console.error(`FAIL ${file}`)
    for (const e of errors) console.error(`     ${e}`)
  }
  console.log(`${files.length - failed} passed, ${failed} failed`)
  process.exit(failed === 0 ? 0 : 1)
}

main()
